/**
 * The embedded `llama-cpp` Engine: runs a GGUF model in-process through node-llama-cpp. Native dialect
 * "openai": OpenAI chat/completion/embedding bodies in, OpenAI reply bodies out.
 *
 * Shape of the runtime:
 * - one shared `Llama` per process (llama-runtime.ts), CPU only, explicit thread counts;
 * - per Engine, one model loaded lazily (or by `warmup()`) after gguf-inspect accepted the file and, unless
 *   disabled, a child process loaded it once without dying (probe-model-load.ts);
 * - one generation context with `sequences` parallel sequences lent through a SequencePool: requests holding
 *   sequences at the same time are decoded in one batch by node-llama-cpp;
 * - a separate embedding context, created on the first embedding request.
 *
 * KV reuse (kv-reuse.ts, on unless the Model says `kvReuse: false`): sequences keep what they evaluated, and a
 * request goes to the free sequence that already holds the longest prefix of its prompt, and a longer prefix
 * held or being evaluated by another sequence is copied in (prefix-sharing.ts), so a shared system prompt is
 * evaluated once, not once per request or per sequence.
 *
 * Token counts are the ones node-llama-cpp actually evaluated and sampled on the sequence (its TokenMeter),
 * including tokens that never reach the text (an unfinished UTF-8 byte sequence, a stop string); prompt
 * tokens taken from the sequence's cache count as prompt tokens too, and as cached tokens.
 */
import path from "node:path";
import {
  LlamaChat,
  LlamaCompletion,
  resolveChatWrapper,
  type ChatWrapper,
  type Llama,
  type LlamaContext,
  type LlamaContextSequence,
  type LlamaEmbeddingContext,
  type LlamaModel,
  type Token,
} from "node-llama-cpp";
import type { LlamaCppModelConfig } from "../../config/config.ts";
import { EngineError, type Engine, type EnginePack, type EngineReply, type EngineRequest, type EngineStream, type PackCandidate, type PackKey } from "../../core/engine.ts";
import { embedPackOneByOne, llamaCppEmbeddingPackKey } from "./embedding-packs.ts";
import { inspectGguf } from "./gguf-inspect.ts";
import { defaultThreadCount, getSharedLlama, setNativeLogSink } from "./llama-runtime.ts";
import {
  invalidRequestError,
  parseChatBody,
  parseCompletionBody,
  parseEmbeddingBody,
} from "./openai-request.ts";
import { probeModelLoad } from "./probe-model-load.ts";
import { SequencePool } from "./sequence-pool.ts";
import { meteredGeneration, sequenceAffinity, type PromptTokenCounters } from "./kv-reuse.ts";
import { PrefixSharing } from "./prefix-sharing.ts";
import { toEmbeddingData } from "./embedding-vectors.ts";
import { chatCompletionReply, textCompletionReply, type Generation } from "./openai-replies.ts";
import { completionPromptTokens, finishOf, samplingOptions, toChatHistory } from "./generation-options.ts";
import { GrammarCache, tokenBiasFor } from "./sampling-inputs.ts";
import { ChunkStream, wantsUsage, type GenerationSink } from "./chunk-stream.ts";

export interface LlamaCppEngineLogger {
  info(message: string): void;
  warn(message: string): void;
  debug(message: string): void;
}

export interface LlamaCppEngineOptions {
  model: LlamaCppModelConfig;
  /**
   * Local GGUF file to load. Defaults to `model.path`, which must then be a local path: resolving
   * `hf:` and https paths (download into the model cache) is the caller's job.
   */
  modelPath?: string;
  logger?: LlamaCppEngineLogger;
  /**
   * Load the model once in a child process before loading it in-process, so a native abort or hang on a
   * malformed file cannot take the server down. Default true; `false` skips it (the header is always
   * inspected).
   */
  probe?: boolean;
  /** How long the probe may take before the file is declared hanging. Default 120 s. */
  probeTimeoutMs?: number;
}

/** Parallel-decoding figures, for tests and metrics. */
export interface LlamaCppEngineStats {
  sequences: number;
  busySequences: number;
  /** Most sequences in use at once since the model was loaded. */
  peakBusySequences: number;
  /** Requests waiting for a free sequence. */
  waitingRequests: number;
  kvReuse: boolean;
  /** Chat and completion prompt tokens the model evaluated since it was loaded. */
  promptTokensEvaluated: number;
  /** Chat and completion prompt tokens taken from a sequence's KV cache instead (0 without KV reuse). */
  promptTokensReused: number;
  /** Prefixes copied from another sequence instead of evaluated (prefix-sharing.ts). */
  prefixCopies: number;
  /** Requests that waited for another sequence to evaluate a prefix they share. */
  prefixWaits: number;
}

interface LoadedModel {
  llama: Llama;
  model: LlamaModel;
  context: LlamaContext;
  pool: SequencePool<LlamaContextSequence>;
  /** Null without KV reuse, or where node-llama-cpp or the model cannot copy a prefix between sequences. */
  sharing: PrefixSharing | null;
  /** One LlamaChat per sequence, kept across requests: building and disposing one per request cost ~50 µs. */
  chats: Map<LlamaContextSequence, LlamaChat>;
  chatWrapper: ChatWrapper;
  contextSize: number;
  vocabularySize: number;
}

const DEFAULT_SEQUENCES = 4;
const DEFAULT_MAX_CONTEXT = 4096;

export class LlamaCppEngine implements Engine {
  readonly name = "llama-cpp";
  readonly dialect = "openai" as const;
  private readonly config: LlamaCppModelConfig;
  private readonly modelPath: string;
  private readonly threads: number;
  private readonly sequences: number;
  private readonly kvReuse: boolean;
  private readonly promptTokens: PromptTokenCounters = { evaluated: 0, reused: 0 };
  private readonly logger: LlamaCppEngineLogger | undefined;
  private readonly probe: boolean;
  private readonly probeTimeoutMs: number;
  private loading: Promise<LoadedModel> | null = null;
  private embedding: Promise<LlamaEmbeddingContext> | null = null;
  private readonly grammars = new GrammarCache();
  private currentPool: SequencePool<LlamaContextSequence> | null = null;
  private currentSharing: PrefixSharing | null = null;
  private closed = false;

  constructor(options: LlamaCppEngineOptions) {
    this.config = options.model;
    this.modelPath = options.modelPath ?? options.model.path;
    this.threads = options.model.threads ?? defaultThreadCount();
    this.sequences = options.model.sequences ?? DEFAULT_SEQUENCES;
    this.kvReuse = options.model.kvReuse ?? true;
    this.logger = options.logger;
    this.probe = options.probe ?? true;
    this.probeTimeoutMs = options.probeTimeoutMs ?? 120_000;
    if (options.logger) setNativeLogSink(options.logger);
  }

  /** Loads the model and its generation context now instead of on the first request. */
  async warmup(): Promise<void> {
    await this.loaded();
  }

  stats(): LlamaCppEngineStats {
    return {
      sequences: this.sequences,
      busySequences: this.currentPool?.busy ?? 0,
      peakBusySequences: this.currentPool?.peakBusy ?? 0,
      waitingRequests: this.currentPool?.waiting ?? 0,
      kvReuse: this.kvReuse,
      promptTokensEvaluated: this.promptTokens.evaluated,
      promptTokensReused: this.promptTokens.reused,
      prefixCopies: this.currentSharing?.counters.copies ?? 0,
      prefixWaits: this.currentSharing?.counters.waits ?? 0,
    };
  }

  execute(request: EngineRequest): Promise<EngineReply> {
    return this.run(request, null);
  }

  /**
   * Tokens reach the reader as they are decoded. Resolves once the request holds a sequence (so a bad body,
   * a prompt longer than the context or a failed load still reject with a plain 400/502); the reader
   * stopping aborts the generation and frees the sequence.
   */
  async stream(request: EngineRequest): Promise<EngineStream> {
    if (request.kind !== "chat" && request.kind !== "completion") throw invalidRequestError("Only chat and completion replies stream.", "stream");
    const { stream: _stream, stream_options: _options, ...body } = request.body;
    const chunks = new ChunkStream(request.kind, modelNameOf(request, this.config.name), wantsUsage(request.body));
    const generation = this.run({ ...request, body }, chunks);
    generation.then(
      (reply) => chunks.finish((reply.body as { usage?: unknown }).usage ?? null),
      (error: unknown) => chunks.fail(error),
    );
    await Promise.race([chunks.begun, generation]);
    return { requestId: null, chunks };
  }

  private async run(request: EngineRequest, sink: GenerationSink | null): Promise<EngineReply> {
    if (this.closed) throw new EngineError({ kind: "aborted", message: `Model '${this.config.name}' is closed.`, retryable: false });
    if (request.signal.aborted) throw abortedError(this.config.name, request.signal.reason);
    const modelName = modelNameOf(request, this.config.name);
    try {
      switch (request.kind) {
        case "chat":
          return await this.chat(request, modelName, sink);
        case "completion":
          return await this.completion(request, modelName, sink);
        case "embedding":
          return await this.embed(request, modelName);
        case "moderation":
          throw invalidRequestError(
            `Model '${this.config.name}' (engine llama-cpp) cannot serve /v1/moderations: a local model chats, completes and embeds. Route moderations to a model on an openai engine whose upstream has /v1/moderations.`,
            "model",
          );
      }
    } catch (error) {
      if (request.signal.aborted) throw abortedError(this.config.name, request.signal.reason);
      if (error instanceof EngineError) throw error;
      throw new EngineError({
        kind: "engine",
        message: `Model '${this.config.name}' failed while running a ${request.kind} request: ${messageOf(error)}`,
        retryable: false,
        cause: error,
      });
    }
  }

  packKey(request: PackCandidate): PackKey | null {
    return llamaCppEmbeddingPackKey(this.config, request);
  }

  /** One input at a time, as a multi-input request runs (embedding-packs.ts). */
  executePack(pack: EnginePack): Promise<(EngineReply | EngineError)[]> {
    return embedPackOneByOne(pack, (body) => this.execute({ kind: "embedding", dialect: pack.dialect, body, model: pack.model, signal: pack.signal }));
  }

  async close(): Promise<void> {
    this.closed = true;
    const loading = this.loading;
    const embedding = this.embedding;
    this.loading = null;
    this.embedding = null;
    this.grammars.clear();
    const embeddingContext = await embedding?.catch(() => null);
    await embeddingContext?.dispose();
    const loaded = await loading?.catch(() => null);
    if (loaded) {
      for (const chat of loaded.chats.values()) chat.dispose({ disposeSequence: false });
      await loaded.context.dispose();
      await loaded.model.dispose();
    }
  }

  private loaded(): Promise<LoadedModel> {
    if (this.closed) return Promise.reject(new EngineError({ kind: "aborted", message: `Model '${this.config.name}' is closed.`, retryable: false }));
    // A failed load stays failed: a bad model file does not get better by loading it per request.
    this.loading ??= this.load();
    return this.loading;
  }

  private async load(): Promise<LoadedModel> {
    const started = Date.now();
    const loadError = (problem: string, cause?: unknown): EngineError =>
      new EngineError({ kind: "engine", message: `Model '${this.config.name}' cannot be loaded: ${problem}`, retryable: false, cause });
    if (/^(hf:|https?:)/.test(this.modelPath)) {
      throw loadError(`${this.modelPath} is not a local file; download it first (the engine loads local GGUF files only).`);
    }
    let vocabularySize: number;
    try {
      const inspection = await inspectGguf(this.modelPath);
      const tokens = inspection.metadata.get("tokenizer.ggml.tokens");
      vocabularySize = typeof tokens === "object" && tokens !== null ? tokens.length : 0;
    } catch (error) {
      throw loadError(messageOf(error), error);
    }
    // Starting the native backend (~1-3 s: node-llama-cpp test-runs its binary in a child) overlaps the probe.
    const llamaStarting = getSharedLlama(this.threads);
    llamaStarting.catch(() => undefined);
    if (this.probe) {
      try {
        await probeModelLoad(this.modelPath, { timeoutMs: this.probeTimeoutMs });
      } catch (error) {
        throw loadError(messageOf(error), error);
      }
    }
    try {
      const llama = await llamaStarting;
      const model = await llama.loadModel({ modelPath: this.modelPath });
      try {
        const contextSize = this.config.contextSize ?? Math.min(model.trainContextSize, DEFAULT_MAX_CONTEXT);
        const flashAttention = this.config.flashAttention;
        const context = await model.createContext({ sequences: this.sequences, contextSize, threads: this.threads, ...(flashAttention === undefined ? {} : { flashAttention }) });
        const sequences = Array.from({ length: this.sequences }, () => context.getSequence());
        const pool = new SequencePool(sequences);
        const sharing = this.kvReuse && PrefixSharing.supported(sequences[0]!) ? new PrefixSharing(sequences) : null;
        this.currentPool = pool;
        this.currentSharing = sharing;
        const chatWrapper = resolveChatWrapper(model);
        this.logger?.info(
          `llama-cpp: loaded ${path.basename(this.modelPath)} for model '${this.config.name}' in ${Date.now() - started} ms ` +
            `(${this.sequences} sequences x ${context.contextSize} tokens, ${this.threads} threads, chat wrapper ${chatWrapper.wrapperName}, ` +
            `KV reuse ${this.kvReuse ? (sharing ? "on, shared between sequences" : "on") : "off"}, flash attention ${flashAttentionLabel(context.flashAttention)})`,
        );
        return { llama, model, context, pool, sharing, chats: new Map(), chatWrapper, contextSize: context.contextSize, vocabularySize };
      } catch (error) {
        await model.dispose();
        throw error;
      }
    } catch (error) {
      throw loadError(messageOf(error), error);
    }
  }

  private async chat(request: EngineRequest, modelName: string, sink: GenerationSink | null): Promise<EngineReply> {
    const params = parseChatBody(request.body);
    const loaded = await this.loaded();
    const grammar = await this.grammars.forFormat(loaded.llama, params.responseFormat);
    const tokenBias = tokenBiasFor(loaded.model, loaded.vocabularySize, params.sampling);
    const history = toChatHistory(params.messages);
    const prompt = loaded.chatWrapper.generateContextState({ chatHistory: history }).contextText.tokenize(loaded.model.tokenizer);
    const maxTokens = this.generationBudget(loaded, prompt.length, params.sampling.maxTokens);

    const generations = await this.withSequence(loaded, request.signal, prompt, async (sequence, evaluated) => {
      sink?.begin();
      const chat = chatOn(loaded, sequence);
      const results: Generation[] = [];
      for (let choice = 0; choice < params.sampling.n; choice++) {
        results.push(
          await meteredGeneration(sequence, prompt, this.kvReuse, this.promptTokens, async () => {
            const response = await chat.generateResponse(history, {
              ...samplingOptions(params.sampling, choice, tokenBias),
              maxTokens,
              grammar,
              signal: request.signal,
              onToken: loaded.sharing ? evaluated : undefined,
              onTextChunk: sink ? (text) => sink.text(choice, text) : undefined,
            });
            const finish = finishOf(response.metadata);
            sink?.end(choice, finish.finishReason, finish.stopSequence);
            return { text: response.response, ...finish };
          }),
        );
      }
      return results;
    });

    return chatCompletionReply(modelName, generations, params.sampling.n);
  }

  private async completion(request: EngineRequest, modelName: string, sink: GenerationSink | null): Promise<EngineReply> {
    const params = parseCompletionBody(request.body);
    const loaded = await this.loaded();
    const tokenBias = tokenBiasFor(loaded.model, loaded.vocabularySize, params.sampling);
    const prompts = params.prompts.map((text) => ({ text, tokens: completionPromptTokens(loaded.model, text) }));
    // Budgets first: a prompt too long for the context is a 400 before anything streams.
    const budgets = prompts.map((prompt) => this.generationBudget(loaded, prompt.tokens.length, params.sampling.maxTokens));
    const generations = await this.withSequence(loaded, request.signal, prompts[0]!.tokens, async (sequence, evaluated) => {
      sink?.begin();
      const completion = new LlamaCompletion({ contextSequence: sequence });
      try {
        const results: Generation[] = [];
        for (const [promptIndex, prompt] of prompts.entries()) {
          for (let choice = 0; choice < params.sampling.n; choice++) {
            const index = promptIndex * params.sampling.n + choice;
            results.push(
              await meteredGeneration(sequence, prompt.tokens, this.kvReuse, this.promptTokens, async () => {
                const response = await completion.generateCompletionWithMeta(prompt.text, {
                  ...samplingOptions(params.sampling, choice, tokenBias),
                  maxTokens: budgets[promptIndex]!,
                  disableContextShift: true,
                  signal: request.signal,
                  onToken: loaded.sharing ? evaluated : undefined,
                  onTextChunk: sink ? (text) => sink.text(index, text) : undefined,
                });
                const finish = finishOf(response.metadata);
                sink?.end(index, finish.finishReason, finish.stopSequence);
                return { text: response.response, ...finish };
              }),
            );
          }
        }
        return results;
      } finally {
        completion.dispose({ disposeSequence: false });
      }
    });

    return textCompletionReply(modelName, generations, params.sampling.n);
  }

  private async embed(request: EngineRequest, modelName: string): Promise<EngineReply> {
    if (this.config.embeddings === false) {
      throw invalidRequestError(`Model '${this.config.name}' does not serve embeddings (embeddings: false in its configuration).`, "model");
    }
    const params = parseEmbeddingBody(request.body);
    const loaded = await this.loaded();
    const dimension = loaded.model.embeddingVectorSize;
    if (params.dimensions !== undefined && params.dimensions > dimension) {
      throw invalidRequestError(`Invalid value for 'dimensions': ${params.dimensions} is larger than the model's ${dimension} dimensions.`, "dimensions");
    }
    const context = await this.embeddingContext(loaded);
    const data: Array<{ object: "embedding"; index: number; embedding: number[] | string }> = [];
    let promptTokens = 0;
    for (const [index, input] of params.inputs.entries()) {
      if (request.signal.aborted) throw abortedError(this.config.name, request.signal.reason);
      const param = params.inputs.length > 1 ? `input[${index}]` : "input";
      if (typeof input !== "string" && input.some((token) => token >= loaded.vocabularySize)) {
        throw invalidRequestError(`Invalid value for '${param}': token ids must be below the vocabulary size ${loaded.vocabularySize}.`, param);
      }
      // Tokenized once here rather than by both calls below (what the embedding context would do with text).
      const tokens = typeof input === "string" ? loaded.model.tokenize(input, false) : (input as Token[]);
      const length = context.calculateInputLength(tokens);
      // node-llama-cpp's embedding context needs one position to spare: an input of exactly the context size fails inside it.
      if (length >= loaded.contextSize) {
        throw invalidRequestError(`Invalid value for '${param}': ${length} tokens is longer than the model's context of ${loaded.contextSize} tokens allows (at most ${loaded.contextSize - 1}).`, param);
      }
      const vector = (await context.getEmbeddingFor(tokens)).vector;
      promptTokens += length;
      data.push({ object: "embedding", index, embedding: toEmbeddingData(vector, params.dimensions, params.encoding) });
    }
    return {
      statusCode: 200,
      requestId: null,
      usage: { inputTokens: promptTokens, outputTokens: 0 },
      body: { object: "list", data, model: modelName, usage: { prompt_tokens: promptTokens, total_tokens: promptTokens } },
    };
  }

  private embeddingContext(loaded: LoadedModel): Promise<LlamaEmbeddingContext> {
    this.embedding ??= loaded.model.createEmbeddingContext({ threads: this.threads, contextSize: loaded.contextSize }).catch((error: unknown) => {
      this.embedding = null;
      throw new EngineError({ kind: "engine", message: `Model '${this.config.name}' cannot create an embedding context: ${messageOf(error)}`, retryable: false, cause: error });
    });
    return this.embedding;
  }

  /**
   * Lends a sequence for `work`: with KV reuse, the one holding the longest prefix of `prompt` (see
   * sequenceAffinity, and SequencePool for ties and waiting requests), with a longer prefix copied in from
   * another sequence where one holds it or is evaluating it (prefix-sharing.ts). `work` calls `evaluated`
   * once the prompt is in the sequence (on each sampled token; later calls do nothing).
   */
  private async withSequence<T>(
    loaded: LoadedModel,
    signal: AbortSignal,
    prompt: readonly Token[],
    work: (sequence: LlamaContextSequence, evaluated: () => void) => Promise<T>,
  ): Promise<T> {
    const affinity = this.kvReuse ? (sequence: LlamaContextSequence) => sequenceAffinity(sequence, prompt) : undefined;
    const sequence = await loaded.pool.acquire(signal, affinity);
    let evaluated = noop;
    try {
      if (loaded.sharing) evaluated = await loaded.sharing.prepare(sequence, prompt, signal);
      return await work(sequence, evaluated);
    } finally {
      evaluated();
      loaded.pool.release(sequence);
    }
  }

  /** Tokens a generation may produce: what was asked, capped by what is left of the sequence's context. */
  private generationBudget(loaded: LoadedModel, promptTokens: number, requested: number | null): number {
    const available = loaded.contextSize - promptTokens;
    if (available <= 0) {
      const message = `This model's maximum context length is ${loaded.contextSize} tokens, but the prompt has ${promptTokens} tokens. Shorten the messages.`;
      throw new EngineError({
        kind: "unsupported",
        message,
        statusCode: 400,
        body: { error: { message, type: "invalid_request_error", param: "messages", code: "context_length_exceeded" } },
        retryable: false,
      });
    }
    return Math.min(requested ?? available, available);
  }
}

function noop(): void {}

function chatOn(loaded: LoadedModel, sequence: LlamaContextSequence): LlamaChat {
  let chat = loaded.chats.get(sequence);
  if (!chat) {
    chat = new LlamaChat({ contextSequence: sequence, chatWrapper: loaded.chatWrapper });
    loaded.chats.set(sequence, chat);
  }
  return chat;
}

/** The model name replies carry: the client's, as it wrote it. */
function modelNameOf(request: EngineRequest, fallback: string): string {
  return typeof request.body.model === "string" ? request.body.model : fallback;
}

function abortedError(model: string, reason: unknown): EngineError {
  return new EngineError({ kind: "aborted", message: `Request to model '${model}' was aborted.`, retryable: false, cause: reason });
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** How the load line names the context's flash attention setting (`auto` is llama.cpp's choice). */
function flashAttentionLabel(setting: "auto" | boolean): string {
  return setting === "auto" ? "auto" : setting ? "on" : "off";
}
