/**
 * A Model's backends as resolved from the config (issue 12, part 5; decision 0022): the Model's own engine
 * settings are its first backend, each entry of `backends` one more, each a full ModelConfig (the Model's
 * name, its own engine, upstream, concurrency and price). Also the checks that need more than one entry:
 * unique backend names, and prices on all of them or none (a backend without a price could be neither
 * ranked against the others nor charged).
 */
import { definedOnly } from "./defined-only.ts";
import { MODEL_DEFAULTS, type BackendConfigInput, type ModelConfig } from "./config.ts";

/** A problem with a Model's backends, and the key path it is about (`models[0].backends[1].price`). */
export interface BackendProblem {
  path: (string | number)[];
  message: string;
}

/** Fills in `model.backends` (already holding the raw entries) and `backendName`; returns what is wrong. */
export function resolveBackends(model: ModelConfig, entries: readonly BackendConfigInput[] | undefined, resolvePath: (source: string) => string): BackendProblem[] {
  if (entries === undefined) {
    const problems: BackendProblem[] = [];
    if (model.breaker !== undefined) problems.push({ path: ["breaker"], message: "only applies to a model with backends: add `backends`, or remove `breaker`" });
    if (model.backendName !== undefined) problems.push({ path: ["backendName"], message: "only applies to a model with backends: add `backends`, or remove `backendName`" });
    return problems;
  }
  const backends = entries.map((entry): ModelConfig => {
    const { name, ...settings } = entry;
    const resolved = {
      ...MODEL_DEFAULTS[entry.engine],
      timeoutMs: model.timeoutMs,
      maxRetries: model.maxRetries,
      upstreamModel: model.upstreamModel,
      kinds: model.kinds,
      embeddingPack: model.embeddingPack,
      reuseResults: model.reuseResults,
      resultCache: model.resultCache,
      ...definedOnly(settings),
      name: model.name,
      backendName: name ?? defaultBackendName(entry),
    } as ModelConfig;
    if (resolved.engine === "llama-cpp") resolved.path = resolvePath(resolved.path);
    return resolved;
  });
  model.backendName ??= defaultBackendName(model);
  model.backends = backends;
  return problemsOf(model, backends);
}

function problemsOf(model: ModelConfig, backends: readonly ModelConfig[]): BackendProblem[] {
  const problems: BackendProblem[] = [];
  const seen = new Map<string, number | "model">([[model.backendName ?? "", "model"]]);
  for (const [index, backend] of backends.entries()) {
    const name = backend.backendName ?? "";
    const first = seen.get(name);
    if (first !== undefined) {
      const other = first === "model" ? "the model's own engine" : `backends[${first}]`;
      problems.push({ path: ["backends", index, "name"], message: `'${name}' is also the name of ${other}: give each backend its own \`name\`` });
    } else {
      seen.set(name, index);
    }
  }
  const priced = [model, ...backends].map((each) => each.price !== undefined);
  if (priced.some(Boolean) && !priced.every(Boolean)) {
    const missing = priced[0] ? backends.findIndex((backend) => backend.price === undefined) : -1;
    problems.push({
      path: missing < 0 ? ["price"] : ["backends", missing, "price"],
      message: "is required: with backends, give every backend (and the model's own engine) a price, or none, so spool can rank them by price and charge each Item at the price of the backend that ran it",
    });
  }
  return problems;
}

/** `openai@api.example.com:8443`, `llama-cpp@model.gguf`: what tells two backends apart without a name. */
function defaultBackendName(backend: ModelConfig | BackendConfigInput): string {
  if (backend.engine === "llama-cpp") return `llama-cpp@${backend.path.split(/[\\/]/).pop() ?? backend.path}`;
  const url = backend.engine === "openai" ? (backend.baseUrl ?? backend.baseUrls?.[0]) : backend.baseUrl;
  if (url === undefined) return backend.engine;
  try {
    return `${backend.engine}@${new URL(url).host}`;
  } catch {
    return backend.engine;
  }
}

/** The Model's backends in config order: its own engine first (itself), then `backends`. */
export function backendsOf(model: ModelConfig): ModelConfig[] {
  return [model, ...(model.backends ?? [])];
}

/** Engine calls a Model may run at once over all its backends, in one process (what a Worker lane claims for). */
export function totalConcurrency(model: ModelConfig): number {
  return backendsOf(model).reduce((sum, backend) => sum + processShareOf(model, backend), 0);
}

/**
 * The slots of `backend` (the Model itself or one of its backends) one process may use: all of its
 * `concurrency`, or with the Model's `processConcurrency` that many of the Model's own and the same part of
 * every other backend's (at least one).
 */
export function processShareOf(model: ModelConfig, backend: ModelConfig = model): number {
  const cap = model.processConcurrency;
  if (cap === undefined || cap >= model.concurrency) return backend.concurrency;
  if (backend === model) return cap;
  return Math.max(1, Math.floor((backend.concurrency * cap) / model.concurrency));
}
