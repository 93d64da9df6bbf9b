/**
 * `/ready`: whether this process can take requests now, for load balancers, orchestrators and container
 * health checks. `/health` only says the process is alive (it answers as long as the event loop runs).
 *
 * Ready means: the Store answered one round trip within `STORE_TIMEOUT_MS`, and every Model's Engine can
 * serve (HTTP engines always; a llama-cpp Model once its file is loaded, see EngineRegistry.readiness).
 * An upstream that is down does not make spool unready: spool still accepts, queues and retries Batch work
 * for it, and another spool process would not reach it either.
 */
import type { ModelReadiness } from "../../engines/registry.ts";

/** A hung database connect must not hang the probe: an orchestrator's own timeout is often 1-5 s. */
const STORE_TIMEOUT_MS = 2_000;

export interface ReadinessSources {
  pingStore(): Promise<void>;
  models(): ModelReadiness[];
}

export interface ReadinessReport {
  statusCode: 200 | 503;
  body: { status: "ready" | "not_ready"; reason?: string; store: string; models: ModelReadiness[] };
}

export async function checkReadiness(sources: ReadinessSources): Promise<ReadinessReport> {
  const reasons: string[] = [];
  const store = await storeState(sources.pingStore);
  if (store !== "ok") reasons.push(`the store is unreachable: ${store}`);
  const models = sources.models();
  for (const model of models) {
    if (model.state === "loading") reasons.push(`model '${model.model}' is still loading`);
    if (model.state === "failed") reasons.push(`model '${model.model}' failed to load: ${model.reason ?? "unknown error"}`);
  }
  if (reasons.length === 0) return { statusCode: 200, body: { status: "ready", store, models } };
  return { statusCode: 503, body: { status: "not_ready", reason: reasons.join("; "), store, models } };
}

async function storeState(ping: () => Promise<void>): Promise<string> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<string>((resolve) => {
    timer = setTimeout(() => resolve(`no answer within ${STORE_TIMEOUT_MS} ms`), STORE_TIMEOUT_MS);
  });
  try {
    return await Promise.race([ping().then(() => "ok", (error: unknown) => (error instanceof Error ? error.message : String(error))), timeout]);
  } finally {
    clearTimeout(timer);
  }
}
