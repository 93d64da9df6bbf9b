/**
 * Builds and owns the Engines for the configured Models. HTTP engines (openai, gemini, anthropic) are shared by all
 * Models of their kind (each keeps a connection pool per upstream origin); a llama-cpp Engine is one per
 * Model (it owns a loaded model and its contexts). Every Engine is passed through `wrap` once: the
 * composition root wraps them with translation (src/dialects/translate/), so a request in any dialect runs on
 * any Engine while engines themselves never import a dialect.
 */
import type { Logger } from "pino";
import type { Config, LlamaCppModelConfig, ModelConfig } from "../config/config.ts";
import type { ModelCatalog } from "../core/model-catalog.ts";
import type { Engine, EnginePack, EngineReply, EngineError, EngineStream, PackCandidate, PackKey } from "../core/engine.ts";
import { AnthropicEngine } from "./anthropic/anthropic-engine.ts";
import { GeminiEngine } from "./gemini/gemini-engine.ts";
import { llamaCppEmbeddingPackKey } from "./llama-cpp/embedding-packs.ts";
import { LlamaCppEngine } from "./llama-cpp/llama-cpp-engine.ts";
import { OpenAIEngine } from "./openai/openai-engine.ts";

export type ModelPathResolver = (model: LlamaCppModelConfig) => Promise<string>;

export type EngineWrapper = (engine: Engine) => Engine;

export class EngineRegistry {
  private readonly openai: Engine;
  private readonly gemini: Engine;
  private readonly anthropic: Engine;
  private readonly local = new Map<string, Engine>();
  private readonly logger: Logger;

  constructor(
    private readonly config: Config,
    logger: Logger,
    /** Turns a llama-cpp model's `path` (local, hf:, https) into a local file; default: local paths only. */
    private readonly resolveModelPath?: ModelPathResolver,
    private readonly wrap: EngineWrapper = (engine) => engine,
  ) {
    this.logger = logger.child({ component: "engines" });
    this.openai = wrap(new OpenAIEngine());
    this.gemini = wrap(new GeminiEngine());
    this.anthropic = wrap(new AnthropicEngine());
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
    const log = this.logger.child({ model: model.name });
    const logger = { info: (m: string) => log.info(m), warn: (m: string) => log.warn(m), debug: (m: string) => log.debug(m) };
    if (!this.resolveModelPath) return new LlamaCppEngine({ model, logger });
    return new LazyPathEngine(model, this.resolveModelPath, (modelPath) => new LlamaCppEngine({ model, modelPath, logger }));
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
  private inner: Promise<Engine> | null = null;

  constructor(
    private readonly model: LlamaCppModelConfig,
    private readonly resolvePath: ModelPathResolver,
    private readonly create: (modelPath: string) => Engine,
  ) {}

  private engine(): Promise<Engine> {
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
