/**
 * Domain nouns of spool. Every layer uses these names; the wire names of each client dialect live only in
 * src/dialects/<name>/ and src/api/<name>/ (test/architecture/layers.test.ts checks it).
 *
 * Glossary (also docs/glossary.md):
 * - File:    bytes a client uploaded (a batch input) or spool generated (a result file); metadata in the
 *            Store, contents in the BlobStore.
 * - Batch:   one submitted job: a set of Items run against one kind of endpoint, with a lifecycle.
 * - Item:    one request of a Batch (one input line, or one inline request), with its result once done.
 * - Attempt: one claim of an Item by a Worker. Counted at claim time, so a process that dies mid-request
 *            still spends an attempt (an Item that kills its worker cannot loop forever).
 * - Lease:   a Worker's time-limited right to an Item (or a Batch being validated or finalized). Renewed by
 *            heartbeat while the Worker lives; an expired Lease returns the work to the pool.
 * - Engine:  an inference backend adapter (openai, gemini, llama-cpp) that executes one Item's request.
 * - Model:   a configured route: the name clients use, which Engine serves it and how.
 * - Worker:  the loop that claims Items, dispatches them to Engines, and records results.
 * - Sweeper: the periodic loop that returns expired Leases, validates new Batches, expires and finalizes them.
 * - Store:   durable state (SQLite or PostgreSQL) behind the contract in src/store/store.ts.
 * - Dialect: a client wire format: "openai", "gemini" or "anthropic".
 */

/** Client wire format a Batch was submitted in; decides how its input is parsed and its results written. */
export type Dialect = "openai" | "gemini" | "anthropic";

/** What an Item asks an Engine for. `completion` is the legacy text-completion endpoint. */
export type RequestKind = "chat" | "completion" | "embedding";

/**
 * What one Engine call asks for: a RequestKind, or `moderation` (classifying input text, OpenAI's
 * moderations endpoint). Moderation Items are stored as `embedding` Items (input only, nothing generated,
 * so the Store's kinds did not change) and their BatchFormat names them `moderation` again at dispatch
 * (`BatchFormat.engineRequest`, decision 0023). Only OpenAI-shaped upstreams serve them.
 */
export type CallKind = RequestKind | "moderation";

export type BatchStatus =
  | "validating"
  | "in_progress"
  | "finalizing"
  | "completed"
  | "failed"
  | "expired"
  | "cancelling"
  | "cancelled";

export const TERMINAL_BATCH_STATUSES: readonly BatchStatus[] = ["completed", "failed", "expired", "cancelled"];

export function isTerminal(status: BatchStatus): boolean {
  return TERMINAL_BATCH_STATUSES.includes(status);
}

/**
 * Item lifecycle:
 *   (inserted) pending            by validation; claimed only once its Batch is in_progress (decision 0049)
 *   pending -> running            claimed by a Worker (Attempt counted, Lease set)
 *   running -> pending            Lease expired (process died) or released on graceful shutdown
 *   running -> succeeded | failed result recorded (fenced by owner + attempt)
 *   staged|pending -> cancelled | expired   by cancel / completion window
 *   (invalid lines of a "skip" Batch are inserted directly as failed; "staged" is what validation wrote
 *   before decision 0049, until startBatch turned it pending: only an upgraded store still holds any, in a
 *   Batch whose validation re-runs (clearItems) or whose cancel cancels them)
 */
export type ItemStatus = "staged" | "pending" | "running" | "succeeded" | "failed" | "cancelled" | "expired";

/** One problem found in an input file. `line` is 1-based; `param` is a field path like `body.messages[0]`. */
export interface LineError {
  line: number | null;
  code: string;
  message: string;
  param: string | null;
}

/** What to do with a Batch whose input has bad lines: fail it whole (OpenAI) or run the rest (Gemini). */
export type InvalidLinePolicy = "fail" | "skip";

export interface RequestCounts {
  total: number;
  succeeded: number;
  failed: number;
  cancelled: number;
  expired: number;
}

export interface TokenUsage {
  inputTokens: number;
  outputTokens: number;
  /**
   * Of `inputTokens`, those the engine took from its prefix cache instead of evaluating (OpenAI's
   * `prompt_tokens_details.cached_tokens`, Gemini's `cachedContentTokenCount`, Anthropic's
   * `cache_read_input_tokens`, llama-cpp's reused KV). Absent when the engine did not say. Metrics only:
   * the Store keeps input and output counts.
   */
  cachedInputTokens?: number;
}

/** Usage of work that never reached an Engine. Frozen: shared by every such result. */
export const ZERO_USAGE: Readonly<TokenUsage> = Object.freeze({ inputTokens: 0, outputTokens: 0 });

export interface Batch {
  id: string;
  /** The tenant that created it (src/core/tenancy.ts); only its keys, and admins, see the Batch. */
  tenant: string;
  /** Monotonic integer assigned by the Store; orders Batches FIFO for claiming and listing. */
  seq: number;
  dialect: Dialect;
  kind: RequestKind;
  /** Dialect-owned description of the endpoint (e.g. "/v1/chat/completions"); opaque to core. */
  endpoint: string;
  /** Model every Item of the Batch uses when the dialect fixes one per Batch; null until known. */
  model: string | null;
  status: BatchStatus;
  inputFileId: string | null;
  outputFileId: string | null;
  errorFileId: string | null;
  invalidLinePolicy: InvalidLinePolicy;
  /** Bad input lines (filled when validation fails, or reported alongside a "skip" Batch). */
  errors: LineError[] | null;
  counts: RequestCounts;
  /**
   * Items that took a copy of an identical Item's result instead of running (duplicate reuse); they are
   * also counted in `counts` as succeeded or failed, like any Item.
   */
  reusedItems: number;
  usage: TokenUsage;
  /**
   * What its Items were charged, summed, when they ran on a Model with several backends (each at the price of
   * the backend that ran it; src/core/batch-cost.ts). Zero for Models with one backend: usage × price.
   */
  charges: ItemCharge;
  displayName: string | null;
  /** Client metadata, echoed back; opaque JSON owned by the dialect. */
  metadata: Record<string, unknown> | null;
  /** Dialect-owned options kept with the Batch (output expiry, inline output, webhook...); opaque JSON. */
  options: Record<string, unknown>;
  priority: number;
  createdAtMs: number;
  updatedAtMs: number;
  expiresAtMs: number;
  inProgressAtMs: number | null;
  finalizingAtMs: number | null;
  completedAtMs: number | null;
  failedAtMs: number | null;
  expiredAtMs: number | null;
  cancellingAtMs: number | null;
  cancelledAtMs: number | null;
  deletedAtMs: number | null;
  /**
   * When the Batch was archived: it had ended and `retention.batchResults` had passed since it was created,
   * so its Items (requests and results) are deleted and results endpoints answer that they are gone. Its
   * record, counts, usage and result Files (which expire on their own) stay. Null until then.
   */
  archivedAtMs: number | null;
}

/** Result of one Item, stored with it. Exactly one of `response` / `error` is set. */
export interface ItemResult {
  /** HTTP-like status of the Engine's answer (200, or the upstream's 4xx/5xx); null when never answered. */
  statusCode: number | null;
  /** The reply body as JSON text, in the Batch's dialect (success body or upstream error body). */
  body: string | null;
  /** Set when the Item ended without an Engine answer: batch_expired, batch_cancelled, request_timeout... */
  errorCode: string | null;
  errorMessage: string | null;
  requestId: string | null;
  usage: TokenUsage;
  finishedAtMs: number;
  /** Set when a backend of a Model with several, with a price, ran it: what it costs (added to its Batch's charges). */
  charge?: ItemCharge;
}

/** A cost in nano-USD (integers, summed exactly by the Store): at the Batch price, and at list (sync) price. */
export interface ItemCharge {
  batchNanoUsd: number;
  listNanoUsd: number;
}

export interface Item {
  batchId: string;
  /** 0-based position in the input (line number - 1 for files). Output is written in this order. */
  index: number;
  /** The id the client gave the Item (OpenAI's custom id, Gemini's key); null when the dialect has none. */
  clientId: string | null;
  /** Extra per-Item JSON echoed in results (Gemini inline `metadata`); JSON text or null. */
  echo: string | null;
  model: string;
  kind: RequestKind;
  status: ItemStatus;
  attempts: number;
  result: ItemResult | null;
}

export interface FileRecord {
  id: string;
  /** The tenant that uploaded it, or whose Batch generated it. */
  tenant: string;
  purpose: string;
  filename: string;
  /** Gemini displayName; null when not given. */
  displayName: string | null;
  mimeType: string | null;
  bytes: number;
  /** Lower-case hex SHA-256 of the contents. */
  sha256: string;
  /** "uploaded" by a client, or "generated" by spool (result files). */
  source: "uploaded" | "generated";
  createdAtMs: number;
  expiresAtMs: number | null;
}
