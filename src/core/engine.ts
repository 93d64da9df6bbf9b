/**
 * The Engine contract: one adapter per inference backend (src/engines/<name>/).
 *
 * An Engine executes one request at a time per call; the Worker decides how many calls run at once
 * (per-Model concurrency), when to retry, and records the outcome. Engines own their connections.
 *
 * Each Engine has one native dialect (`dialect`): the request bodies it accepts and the reply bodies it
 * returns are in that shape (openai and llama-cpp: OpenAI chat/completion/embedding bodies; gemini:
 * Gemini GenerateContentRequest / EmbedContentRequest; anthropic: Messages requests). The registry
 * (src/engines/registry.ts) wraps each Engine so a request in another dialect is translated on the way in
 * and its reply on the way out (src/dialects/translate/); adapters never translate themselves. An openai
 * Engine given an openai body forwards it unchanged apart from the model name, so fields spool does not
 * know still reach the upstream.
 *
 * Embedding packing (optional, `packKey` + `executePack`): an Engine that can run several single-input
 * embedding requests as one backend call says so per request. `packKey` looks at one request (in the
 * Engine's dialect, or the other one: the translating wrapper translates first) and returns a key that is
 * equal for requests whose bodies differ only in their input (same dimensions, encoding_format, ...), or
 * null when the request must run alone (several inputs, token ids the backend cannot mix, ...). The
 * Dispatcher groups Batch Items by Model, dialect and key, and hands each group to `executePack`, which
 * makes ONE backend call and splits the reply into one reply per request, each shaped exactly like the
 * reply to that request sent alone (one embedding, index 0) with its share of the call's usage. A failure
 * of the call throws for the pack as a whole; the Dispatcher retries it whole or falls back to one call per
 * request (src/dispatch/embedding-packs.ts). Only a reply that cannot be given to one member (its own
 * translation failed) is an EngineError in that member's place.
 *
 * Streaming (optional, `stream`): the synchronous API's `stream: true` requests. `stream()` resolves once the
 * backend has accepted the request and the reply is about to begin (an HTTP upstream answered 2xx, a local
 * model is loaded, the request parsed and a sequence is held), so every failure before the first token (a
 * 400, a 429 with Retry-After, a refused connection) still rejects it with an EngineError the Dispatcher can
 * retry and the API can answer with a plain status. After that the reply arrives as `chunks`: JSON objects
 * in the Engine's dialect, each one what one Server-Sent Event of that dialect carries
 * (openai: `chat.completion.chunk` / `text_completion` objects, and a last usage-only chunk when the body
 * asks for `stream_options.include_usage`; gemini: `GenerateContentResponse` objects; anthropic: its named
 * Messages events, `event` set to their type). The SSE framing and
 * terminators (`data: [DONE]`, Gemini's JSON array) belong to the API, not to Engines. A failure mid-stream
 * throws from the iterator as an EngineError; a consumer that stops early (`break`, `return()`) or whose
 * request signal fires aborts the backend call at once (an upstream socket is closed, a llama.cpp sequence
 * is freed). Only `chat` and `completion` requests stream.
 *
 * Chunks, like reply bodies, are dialect-shaped, never a neutral event model: the openai Engine passes an
 * upstream's chunks through (apart from the model name), so fields spool does not know (logprobs, tool call
 * deltas, reasoning) still reach the client. The translating wrapper turns them into another dialect's
 * chunks with a stateful translator per stream (src/dialects/translate/stream-*.ts), to and from OpenAI's
 * chunks, the hub; a new dialect adds the two translators between its events and those.
 *
 * Failures are thrown as EngineError, which carries the retry decision where it is made: the adapter
 * knows whether a 409 or a reset connection is worth another try; the Worker only reads `retryable` and
 * `retryAfterMs` (see src/core/retry-policy.ts).
 */
import type { Price } from "./batch-cost.ts";
import type { CallKind, Dialect, TokenUsage } from "./types.ts";
import type { ModelConfig } from "../config/config.ts";
import type { MediaFile } from "./media.ts";
import type { Readable } from "node:stream";

export interface EngineRequest {
  kind: CallKind;
  /** Always the Engine's own dialect once it reaches an adapter (the registry translates). */
  dialect: Dialect;
  /** The request body in `dialect`'s shape (OpenAI chat/completion/embedding body, or Gemini request). */
  body: Record<string, unknown>;
  model: ModelConfig;
  /** Aborted on timeout, cancellation or shutdown. */
  signal: AbortSignal;
  /**
   * The tenant the request runs for (a Batch's owner, or the caller of a sync request): the Files its media
   * references name must be theirs (MediaFiles.find). Null or absent while spool has no tenants.
   */
  owner?: string | null;
}

export interface EngineReply {
  /** 200 for success. */
  statusCode: number;
  /** The reply body in the request's dialect. */
  body: unknown;
  usage: TokenUsage;
  /** Upstream request id, when the backend gave one. */
  requestId: string | null;
  /** Of a Model with several backends: the one that served it, and its price (its Item is charged at it). */
  servedBy?: { backend: string; price: Price | null };
}

/**
 * One event of a streamed reply: what one Server-Sent Event carries, in a dialect's shape. `event` is the SSE
 * event name for dialects whose streams name their events (OpenAI Responses, Anthropic), else null.
 */
export interface StreamChunk {
  event: string | null;
  data: Record<string, unknown>;
}

/** A reply that has begun (see Engine.stream). */
export interface EngineStream {
  /** Upstream request id, when the backend gave one. */
  requestId: string | null;
  /**
   * The reply's chunks in the request's dialect, in order; ends when the reply is complete. Iterate once.
   * Throws EngineError when the backend fails mid-reply. Stopping early aborts the backend call.
   */
  chunks: AsyncIterable<StreamChunk>;
}

/** What `packKey` needs to know of a request. */
export interface PackCandidate {
  dialect: Dialect;
  body: Record<string, unknown>;
  model: ModelConfig;
}

export interface PackKey {
  /** Equal for requests that can share one call (compared within one Model and dialect only). */
  key: string;
  /** Cheap estimate of the request's input tokens (characters / 4), for the pack's token budget. */
  estimatedTokens: number;
}

/** Single-input embedding requests with one pack key, to run as one backend call. */
export interface EnginePack {
  /** The dialect of every body (packs never mix dialects, so an error body fits every member). */
  dialect: Dialect;
  bodies: Record<string, unknown>[];
  model: ModelConfig;
  signal: AbortSignal;
}

export interface Engine {
  readonly name: string;
  /** The dialect of bodies this Engine accepts and returns. */
  readonly dialect: Dialect;
  execute(request: EngineRequest): Promise<EngineReply>;
  /**
   * The reply of a `chat` or `completion` request as it is generated (see "Streaming" above). Absent: the
   * Engine cannot stream, and the API answers `stream: true` with a 400 naming `stream`.
   */
  stream?(request: EngineRequest): Promise<EngineStream>;
  /** A single-input embedding request's pack key, or null when it must run alone. Absent: never packs. */
  packKey?(request: PackCandidate): PackKey | null;
  /**
   * One backend call for the pack; one entry per body, in order: the member's reply, or the EngineError
   * that member alone gets. Throws EngineError when the call as a whole failed or cannot be split.
   */
  executePack?(pack: EnginePack): Promise<(EngineReply | EngineError)[]>;
  /**
   * Engines whose backend keeps files itself (Gemini's Files API): the URI under which `file` can be named
   * in `request`'s body instead of its bytes, uploading it (streamed from `open`) the first time and reusing
   * the upload while it lives. Absent: media go inline (src/dialects/translate/media-resolution.ts).
   */
  fileReference?(file: MediaFile, open: () => Promise<Readable>, request: EngineRequest): Promise<string>;
  /** Frees connections, contexts, child processes. */
  close(): Promise<void>;
}

export type EngineErrorKind =
  | "http" // the backend answered with a non-2xx status
  | "network" // connection refused/reset, DNS, TLS
  | "timeout" // the per-request timeout elapsed
  | "aborted" // stopped by spool (shutdown, a client that hung up)
  | "cancelled" // its Batch was cancelled (Dispatcher.cancelBatch): recorded as batch_cancelled, never retried
  | "unsupported" // the request asks for something this engine cannot do (a per-Item error, not retried)
  | "engine"; // the backend failed internally (model load error, native failure)

export class EngineError extends Error {
  readonly kind: EngineErrorKind;
  readonly statusCode: number | null;
  /** Reply body (parsed JSON when it was JSON, else text), for the error file. */
  readonly body: unknown;
  readonly retryable: boolean;
  /** Server-requested delay (Retry-After / retry-after-ms), already parsed; null when none. */
  readonly retryAfterMs: number | null;
  readonly requestId: string | null;

  constructor(params: {
    kind: EngineErrorKind;
    message: string;
    statusCode?: number | null;
    body?: unknown;
    retryable: boolean;
    retryAfterMs?: number | null;
    requestId?: string | null;
    cause?: unknown;
  }) {
    super(params.message, { cause: params.cause });
    this.name = "EngineError";
    this.kind = params.kind;
    this.statusCode = params.statusCode ?? null;
    this.body = params.body;
    this.retryable = params.retryable;
    this.retryAfterMs = params.retryAfterMs ?? null;
    this.requestId = params.requestId ?? null;
  }
}

/**
 * EngineError "cancelled": the request's Batch was cancelled (Dispatcher.cancelBatch). `sent` says whether
 * the engine had seen it (it was running, or an earlier attempt was sent): one never sent ends as the
 * Items the cancel found unstarted do (`cancelled`; Anthropic's `canceled`), one stopped while running as a
 * failure.
 */
export class BatchCancelledError extends EngineError {
  constructor(
    message: string,
    readonly sent: boolean,
  ) {
    super({ kind: "cancelled", message, retryable: false });
  }
}
