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
 * Failures are thrown as EngineError, which carries the retry decision where it is made: the adapter
 * knows whether a 409 or a reset connection is worth another try; the Worker only reads `retryable` and
 * `retryAfterMs` (see src/core/retry-policy.ts).
 */
import type { Dialect, RequestKind, TokenUsage } from "./types.ts";
import type { ModelConfig } from "../config/config.ts";

export interface EngineRequest {
  kind: RequestKind;
  /** Always the Engine's own dialect once it reaches an adapter (the registry translates). */
  dialect: Dialect;
  /** The request body in `dialect`'s shape (OpenAI chat/completion/embedding body, or Gemini request). */
  body: Record<string, unknown>;
  model: ModelConfig;
  /** Aborted on timeout, cancellation or shutdown. */
  signal: AbortSignal;
}

export interface EngineReply {
  /** 200 for success. */
  statusCode: number;
  /** The reply body in the request's dialect. */
  body: unknown;
  usage: TokenUsage;
  /** Upstream request id, when the backend gave one. */
  requestId: string | null;
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
  /** A single-input embedding request's pack key, or null when it must run alone. Absent: never packs. */
  packKey?(request: PackCandidate): PackKey | null;
  /**
   * One backend call for the pack; one entry per body, in order: the member's reply, or the EngineError
   * that member alone gets. Throws EngineError when the call as a whole failed or cannot be split.
   */
  executePack?(pack: EnginePack): Promise<(EngineReply | EngineError)[]>;
  /** Frees connections, contexts, child processes. */
  close(): Promise<void>;
}

export type EngineErrorKind =
  | "http" // the backend answered with a non-2xx status
  | "network" // connection refused/reset, DNS, TLS
  | "timeout" // the per-request timeout elapsed
  | "aborted" // cancelled by spool (shutdown, batch cancel)
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
