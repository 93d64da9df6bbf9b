/**
 * Builds and owns the Engines for the configured Models. HTTP engines (openai, gemini, anthropic) are shared by all
 * Models of their kind (each keeps a connection pool per upstream origin); a llama-cpp Engine is one per
 * Model (it owns a loaded model and its contexts). Every Engine is passed through `wrap` once: the
 * composition root wraps them with translation (src/dialects/translate/), so a request in any dialect runs on
 * any Engine while engines themselves never import a dialect.
 */
import type { Logger } from "pino";
import type { LlamaCppModelConfig, ModelConfig } from "../config/config.ts";
import type { ModelCatalog } from "../core/model-catalog.ts";
import type { Engine, EnginePack, EngineReply, EngineError, EngineStream, PackCandidate, PackKey } from "../core/engine.ts";
import { AnthropicEngine } from "./anthropic/anthropic-engine.ts";
import { GeminiEngine } from "./gemini/gemini-engine.ts";
import { llamaCppEmbeddingPackKey } from "./llama-cpp/embedding-packs.ts";
import type { LlamaCppEngine, LlamaCppEngineOptions } from "./llama-cpp/llama-cpp-engine.ts";
import { OpenAIEngine } from "./openai/openai-engine.ts";

export type ModelPathResolver = (model: LlamaCppModelConfig) => Promise<string>;

export type EngineWrapper = (engine: Engine) => Engine;

/**
 * Builds a llama-cpp Engine. The composition root hands one in only when a Model (or a backend) runs on
 * llama-cpp: importing node-llama-cpp costs about 45 MB resident, which a process serving HTTP engines
 * only should not carry (issue 11).
 */
export type LlamaCppEngineFactory = (options: LlamaCppEngineOptions) => LlamaCppEngine;

export interface EngineRegistryOptions {
  logger: Logger;
  /** Turns a llama-cpp model's `path` (local, hf:, https) into a local file; default: local paths only. */
  resolveModelPath?: ModelPathResolver;
  wrap?: EngineWrapper;
  /** Absent when no Model runs on llama-cpp. */
  llamaCpp?: LlamaCppEngineFactory;
}

/**
 * Whether a Model's Engine can serve now, for readiness (`/ready`). HTTP engines are always `ready` (an
 * upstream's health is the upstream's; spool does not probe it). A llama-cpp Model is `lazy` until something
 * asks it to load (a first request, or `preload`), then `loading`, `ready`, or `failed` with the reason.
 */
export interface ModelReadiness {
  model: string;
  state: "ready" | "lazy" | "loading" | "failed";
  reason?: string;
}

interface Preloadable {
  warmup(): Promise<void>;
}

export class EngineRegistry {
  private readonly openai: Engine;
  private readonly gemini: Engine;
  private readonly anthropic: Engine;
  private readonly local = new Map<string, Engine>();
  /** The unwrapped llama-cpp Engines, which can load their model ahead of the first request. */
  private readonly preloadable = new Map<string, Preloadable>();
  private readonly loads = new Map<string, Omit<ModelReadiness, "model">>();
  private readonly logger: Logger;
  private readonly resolveModelPath: ModelPathResolver | undefined;
  private readonly wrap: EngineWrapper;
  private readonly llamaCpp: LlamaCppEngineFactory | undefined;

  constructor(options: EngineRegistryOptions) {
    this.logger = options.logger.child({ component: "engines" });
    this.resolveModelPath = options.resolveModelPath;
    this.llamaCpp = options.llamaCpp;
    this.wrap = options.wrap ?? ((engine) => engine);
    this.openai = this.wrap(new OpenAIEngine());
    this.gemini = this.wrap(new GeminiEngine());
    this.anthropic = this.wrap(new AnthropicEngine());
  }

  /** The Engine and config serving `name`, or undefined when no such Model is configured. */
  resolve(catalog: ModelCatalog, name: string): { engine: Engine; model: ModelConfig } | undefined {
    const model = catalog.get(name);
    if (!model) return undefined;
    return { engine: this.engineFor(model), model };
  }

  engineFor(model: ModelConfig): Engine {
    switch (model.engine) {
      case "openai":
        return this.openai;
      case "gemini":
        return this.gemini;
      case "anthropic":
        return this.anthropic;
      case "llama-cpp": {
        // One per backend of a Model: each owns its loaded model file.
        const key = model.backendName === undefined ? model.name : `${model.name}\u0000${model.backendName}`;
        let engine = this.local.get(key);
        if (!engine) {
          engine = this.wrap(this.createLocal(model));
          this.local.set(key, engine);
        }
        return engine;
      }
    }
  }

  private createLocal(model: LlamaCppModelConfig): Engine {
    const create = this.llamaCpp;
    if (create === undefined) throw new Error(`Model '${model.name}' runs on llama-cpp, but the engine registry was built without it: the composition root loads llama-cpp only for the Models in the Config.`);
    const log = this.logger.child({ model: model.name });
    const logger = { info: (m: string) => log.info(m), warn: (m: string) => log.warn(m), debug: (m: string) => log.debug(m) };
    const engine = this.resolveModelPath
      ? new LazyPathEngine(model, this.resolveModelPath, (modelPath) => create({ model, modelPath, logger }))
      : create({ model, logger });
    this.preloadable.set(model.name, engine);
    return engine;
  }

  /**
   * Downloads and loads every llama-cpp Model now instead of on its first request, so a process reports
   * ready (`readiness`) only once it can answer at once, and a bad model file is known at start. The models
   * are `loading` from the call on; loading begins once `startAfter` resolves (the server listens), and not
   * at all if it rejects. Resolves when all are settled; a failure is logged and kept for `readiness`.
   */
  async preload(models: readonly ModelConfig[], startAfter: Promise<unknown> = Promise.resolve()): Promise<void> {
    const local = models.filter((model) => model.engine === "llama-cpp");
    for (const model of local) this.loads.set(model.name, { state: "loading" });
    try {
      await startAfter;
    } catch {
      return; // the process is about to exit: nothing to load for
    }
    await Promise.all(
      local.map(async (model) => {
        this.engineFor(model);
        const engine = this.preloadable.get(model.name);
        if (!engine) return;
        try {
          await engine.warmup();
          this.loads.set(model.name, { state: "ready" });
        } catch (error) {
          const reason = error instanceof Error ? error.message : String(error);
          this.loads.set(model.name, { state: "failed", reason });
          this.logger.error({ model: model.name, err: error }, "model failed to load: requests for it will fail until the process restarts with a working file");
        }
      }),
    );
  }

  readiness(models: readonly ModelConfig[]): ModelReadiness[] {
    return models.map((model) => {
      if (model.engine !== "llama-cpp") return { model: model.name, state: "ready" };
      return { model: model.name, ...(this.loads.get(model.name) ?? { state: "lazy" }) };
    });
  }

  async close(): Promise<void> {
    const engines = [this.openai, this.gemini, this.anthropic, ...this.local.values()];
    await Promise.allSettled(engines.map((engine) => engine.close()));
  }
}

/** Resolves (e.g. downloads) the model file on first use, then delegates. */
class LazyPathEngine implements Engine {
  readonly name = "llama-cpp";
  readonly dialect = "openai" as const;
  private inner: Promise<LlamaCppEngine> | null = null;

  constructor(
    private readonly model: LlamaCppModelConfig,
    private readonly resolvePath: ModelPathResolver,
    private readonly create: (modelPath: string) => LlamaCppEngine,
  ) {}

  async warmup(): Promise<void> {
    await (await this.engine()).warmup();
  }

  private engine(): Promise<LlamaCppEngine> {
    // A failed download is not remembered: the next request tries again (the network may be back).
    this.inner ??= this.resolvePath(this.model).then(this.create, (error: unknown) => {
      this.inner = null;
      throw error;
    });
    return this.inner;
  }

  async execute(request: Parameters<Engine["execute"]>[0]): ReturnType<Engine["execute"]> {
    return (await this.engine()).execute(request);
  }

  async stream(request: Parameters<Engine["execute"]>[0]): Promise<EngineStream> {
    const engine = await this.engine();
    if (engine.stream === undefined) throw new Error(`Engine '${engine.name}' cannot stream.`);
    return engine.stream(request);
  }

  /** Decided from the body alone, so Items are packed before the model file is even downloaded. */
  packKey(request: PackCandidate): PackKey | null {
    return llamaCppEmbeddingPackKey(this.model, request);
  }

  async executePack(pack: EnginePack): Promise<(EngineReply | EngineError)[]> {
    const engine = await this.engine();
    if (engine.executePack === undefined) throw new Error(`Engine '${engine.name}' cannot execute packs.`);
    return engine.executePack(pack);
  }

  async close(): Promise<void> {
    const inner = this.inner;
    this.inner = null;
    if (inner) await inner.then((engine) => engine.close(), () => undefined);
  }
}
