/**
 * The BatchFormat contract: what the Batch service, validation, finalization and the local commands need
 * from a dialect — its line and result shapes, and its defaults (invalid-line policy, lifetime, result
 * retention, how its files are recognised). Implemented in src/dialects/<name>/batch-format.ts; every layer
 * below the dialects receives them from the composition root as `BatchFormats`, keyed by Dialect, so no
 * inner layer imports a dialect and "no format for this dialect" cannot happen at run time.
 */
import { ZERO_USAGE, type Batch, type CallKind, type Dialect, type InvalidLinePolicy, type Item, type ItemResult, type LineError, type RequestKind } from "./types.ts";
import type { ModelCatalog } from "./model-catalog.ts";

/** One valid input line, ready to become an Item. */
export interface ParsedLine {
  clientId: string | null;
  echo: string | null;
  model: string;
  kind: RequestKind;
  /**
   * JSON text holding the request; `BatchFormat.requestBody` extracts the body the Engine receives. Usually
   * the input line itself: re-serializing the body at validation would double its cost (JSON.stringify of
   * every line), while extracting it at dispatch is one JSON.parse the Worker does anyway.
   */
  request: string;
  /**
   * The request body `requestBody(request)` would return, already parsed: validation reads its traits
   * (requestTraits) and hashes it for duplicate reuse without parsing the line a second time.
   */
  body: Record<string, unknown>;
  /**
   * Things the service accepts but a person checking the file should hear about (a Gemini line without a
   * key gets a result line without one). `spool validate` prints them; a Batch runs regardless.
   */
  warnings?: LineError[];
}

/** What claim order and duplicate reuse need to know about one request (see BatchFormat.requestTraits). */
export interface RequestTraits {
  /**
   * Items with the same key share the start of their prompt (the model plus the system prompt and leading
   * messages, or the start of a single prompt): they are claimed back to back so an engine's prefix cache
   * hits (src/core/request-keys.ts makes the key). Null when there is nothing worth sharing (embeddings,
   * short single prompts).
   */
  prefixKey: string | null;
  /**
   * True when asking twice gives the same answer as asking once: every embedding, and generation at
   * temperature 0. Duplicates of such requests run once by default (the Model's `reuseResults`).
   */
  deterministic: boolean;
}

export type LineOutcome =
  | { ok: true; line: ParsedLine }
  /** `clientId` is whatever id could be read from the bad line (so a skip-policy error line can carry it). */
  /** `model`: the model name the bad line asks for, when it names one, so "one model per file" judges it too. */
  | { ok: false; errors: LineError[]; clientId: string | null; echo: string | null; model?: string };

/** What a dialect recognises in the first request line of a file. */
export interface SniffedLine {
  endpoint: string;
  kind: RequestKind;
}

export interface BatchFormat {
  readonly dialect: Dialect;
  /** What a Batch of this dialect does with bad lines: fail whole (OpenAI) or run the rest (Gemini). */
  readonly invalidLinePolicy: InvalidLinePolicy;
  /** How long a Batch may run before it expires when its create command names no window. */
  readonly defaultLifetimeMs: number;
  /** How long the result files of `batch` are kept (the dialect may read a per-Batch option). */
  resultRetentionMs(batch: Batch): number;
  /** This dialect's endpoint and kind if `record` (a parsed first line) looks like one of its lines. */
  sniffLine(record: Record<string, unknown>): SniffedLine | null;
  /** True when one Model serves the whole Batch and lines name none (Gemini: the batch URL names it). */
  readonly modelPerBatch: boolean;
  /** Why `endpoint` cannot run as a Batch of this dialect (a message for people), or null when it can. */
  endpointProblem(endpoint: string): string | null;
  /** Replaces the model a parsed line names (`spool run --model`); false when the line has no model field. */
  setLineModel(record: Record<string, unknown>, model: string): boolean;
  /**
   * Checks one input line (raw text without the newline). `lineNumber` is 1-based. Never throws on user
   * input: every problem becomes a LineError naming the line and the field.
   */
  parseLine(text: string, lineNumber: number, batch: Batch, catalog: ModelCatalog): LineOutcome;
  /** The request body (in the dialect's shape) from an Item's stored `request` text. */
  requestBody(request: string): Record<string, unknown>;
  /**
   * The Engine call of an Item: its kind and body, from one parse of its `request`. Absent: the Item's own
   * kind and `requestBody(request)`. (OpenAI moderation Items, stored as `embedding`, are `moderation` here.)
   */
  engineCall?(request: string, kind: RequestKind): { kind: CallKind; body: Record<string, unknown> };
  /** Prefix key and determinism of one request body (`ParsedLine.body`) of this dialect, run on `model`. */
  requestTraits(body: Record<string, unknown>, kind: RequestKind, model: string): RequestTraits;
  /** The LineError for a custom id already used on `firstLine`. */
  duplicateIdError(clientId: string, lineNumber: number, firstLine: number): LineError;
  /**
   * Dialects that allow one model per file (OpenAI) return the error for a line whose model differs from
   * the first valid line's (`firstModel`, null for the first). Others leave this out.
   */
  modelMismatchError?(model: string, firstModel: string | null, lineNumber: number): LineError | null;
  /** The result stored for a bad line of a skip-policy Batch. */
  invalidLineResult(errors: readonly LineError[], nowMs: number): ItemResult;
  /** One result-file line for a finished Item, and which file it goes to. */
  resultLine(batch: Batch, item: Item): { target: "output" | "error"; line: string };
  /** File names for the result files of a Batch. */
  resultFileNames(batch: Batch): { output: string; error: string };
}

/** Every dialect's BatchFormat. A Record, not a Map: a missing dialect is a compile error. */
export type BatchFormats = Readonly<Record<Dialect, BatchFormat>>;

/** Results for Items that never ran. Codes are OpenAI's; dialects map them. */
export function expiredResult(nowMs: number): ItemResult {
  return {
    statusCode: null,
    body: null,
    errorCode: "batch_expired",
    errorMessage: "This request could not be executed before the completion window expired.",
    requestId: null,
    usage: ZERO_USAGE,
    finishedAtMs: nowMs,
  };
}

export function cancelledResult(nowMs: number): ItemResult {
  return {
    statusCode: null,
    body: null,
    errorCode: "batch_cancelled",
    errorMessage: "The batch was cancelled before this request ran.",
    requestId: null,
    usage: ZERO_USAGE,
    finishedAtMs: nowMs,
  };
}
