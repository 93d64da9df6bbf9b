/** Domain objects to OpenAI wire objects: integer seconds, null for unset, snake_case names. */
import type { BatchProgress } from "../../core/batch-progress.ts";
import { toScheduleWire, type ScheduleWire } from "../schedule-wire.ts";
import type { Batch, FileRecord, LineError } from "../../core/types.ts";

export function toSeconds(ms: number | null): number | null {
  return ms === null ? null : Math.floor(ms / 1000);
}

export interface OpenAIFile {
  id: string;
  object: "file";
  bytes: number;
  created_at: number;
  filename: string;
  purpose: string;
  status: "processed";
  expires_at: number | null;
  status_details: null;
}

export function toOpenAIFile(file: FileRecord): OpenAIFile {
  return {
    id: file.id,
    object: "file",
    bytes: file.bytes,
    created_at: Math.floor(file.createdAtMs / 1000),
    filename: file.filename,
    purpose: file.purpose,
    // Deprecated but required: the SDK's waitForProcessing polls until processed|error|deleted, and a
    // stored file is complete the moment its upload is.
    status: "processed",
    expires_at: toSeconds(file.expiresAtMs),
    status_details: null,
  };
}

export interface OpenAILineError {
  code: string;
  message: string;
  param: string | null;
  line: number | null;
}

export interface OpenAIBatch {
  id: string;
  object: "batch";
  endpoint: string;
  model: string | null;
  errors: { object: "list"; data: OpenAILineError[] } | null;
  input_file_id: string | null;
  completion_window: string;
  status: Batch["status"];
  output_file_id: string | null;
  error_file_id: string | null;
  created_at: number;
  in_progress_at: number | null;
  expires_at: number | null;
  finalizing_at: number | null;
  completed_at: number | null;
  failed_at: number | null;
  expired_at: number | null;
  cancelling_at: number | null;
  cancelled_at: number | null;
  request_counts: { total: number; completed: number; failed: number };
  usage: {
    input_tokens: number;
    input_tokens_details: { cached_tokens: number };
    output_tokens: number;
    output_tokens_details: { reasoning_tokens: number };
    total_tokens: number;
  };
  metadata: Record<string, unknown> | null;
}

/** A missing input File is reported as the hosted service reports it: `invalid_request` naming `file_id`. */
function toOpenAILineError(error: LineError): OpenAILineError {
  if (error.code === "file_not_found") return { code: "invalid_request", message: error.message, param: "file_id", line: null };
  return { code: error.code, message: error.message, param: error.param, line: error.line };
}

/** The completion window a Batch was created with (kept in its options; "24h" for older rows). */
export function completionWindowOf(batch: Batch): string {
  const window = batch.options.completionWindow;
  return typeof window === "string" ? window : "24h";
}

export function toOpenAIBatch(batch: Batch): OpenAIBatch {
  const { counts, usage } = batch;
  return {
    id: batch.id,
    object: "batch",
    endpoint: batch.endpoint,
    model: batch.model,
    errors:
      batch.errors && batch.errors.length > 0
        ? { object: "list", data: batch.errors.map(toOpenAILineError) }
        : null,
    input_file_id: batch.inputFileId,
    completion_window: completionWindowOf(batch),
    status: batch.status,
    output_file_id: batch.outputFileId,
    error_file_id: batch.errorFileId,
    created_at: Math.floor(batch.createdAtMs / 1000),
    in_progress_at: toSeconds(batch.inProgressAtMs),
    expires_at: toSeconds(batch.expiresAtMs),
    finalizing_at: toSeconds(batch.finalizingAtMs),
    completed_at: toSeconds(batch.completedAtMs),
    failed_at: toSeconds(batch.failedAtMs),
    expired_at: toSeconds(batch.expiredAtMs),
    cancelling_at: toSeconds(batch.cancellingAtMs),
    cancelled_at: toSeconds(batch.cancelledAtMs),
    // `failed` counts error-file lines: upstream rejections plus requests that never ran.
    request_counts: { total: counts.total, completed: counts.succeeded, failed: counts.failed + counts.cancelled + counts.expired },
    usage: {
      input_tokens: usage.inputTokens,
      input_tokens_details: { cached_tokens: 0 },
      output_tokens: usage.outputTokens,
      output_tokens_details: { reasoning_tokens: 0 },
      total_tokens: usage.inputTokens + usage.outputTokens,
    },
    metadata: batch.metadata,
  };
}

/**
 * spool's extension `GET /batches/{id}/progress`: live counts, throughput and an ETA. A separate endpoint
 * rather than extra fields on the Batch object, so SDK types and clients that compare objects stay exact.
 */
export interface OpenAIBatchProgress {
  id: string;
  object: "batch.progress";
  status: Batch["status"];
  /** `reused`: requests answered with a copy of an identical request's result (also in succeeded or failed). */
  request_counts: { total: number; pending: number; succeeded: number; failed: number; cancelled: number; expired: number; reused: number };
  /** Finished requests per second since the Batch went in_progress; null before it did. */
  requests_per_second: number | null;
  /** Seconds until every request is expected to have finished (see `schedule`); null when unknown or terminal. */
  eta_seconds: number | null;
  elapsed_seconds: number | null;
  usage: { input_tokens: number; output_tokens: number; total_tokens: number };
  /** USD, from the Model's configured `price`; null when it has none (src/core/batch-cost.ts). */
  cost: { spent: number; projected: number; sync_equivalent: number; currency: "USD" } | null;
  /** How the scheduler treats the batch (issue 12): its priority, deadline, forecast finish and share. */
  schedule: ScheduleWire;
}

export function toOpenAIBatchProgress(batch: Batch, progress: BatchProgress): OpenAIBatchProgress {
  const { itemsPerSecond: rate, etaMs, elapsedMs, cost } = progress;
  return {
    id: batch.id,
    object: "batch.progress",
    status: batch.status,
    request_counts: {
      total: progress.total,
      pending: progress.pending,
      succeeded: progress.succeeded,
      failed: progress.failed,
      cancelled: progress.cancelled,
      expired: progress.expired,
      reused: progress.reused,
    },
    requests_per_second: rate === null ? null : Math.round(rate * 100) / 100,
    eta_seconds: etaMs === null ? null : Math.ceil(etaMs / 1000),
    elapsed_seconds: elapsedMs === null ? null : Math.floor(elapsedMs / 1000),
    usage: { input_tokens: batch.usage.inputTokens, output_tokens: batch.usage.outputTokens, total_tokens: batch.usage.inputTokens + batch.usage.outputTokens },
    cost: cost === null ? null : { spent: cost.spent, projected: cost.projected, sync_equivalent: cost.syncEquivalent, currency: cost.currency },
    schedule: toScheduleWire(progress),
  };
}

export interface CursorPage<T> {
  object: "list";
  data: T[];
  first_id: string | null;
  last_id: string | null;
  has_more: boolean;
}

/** `has_more` must be true whenever more items exist: without it the SDK's auto-pagination stops silently. */
export function toCursorPage<T extends { id: string }>(data: T[], hasMore: boolean): CursorPage<T> {
  return { object: "list", data, first_id: data[0]?.id ?? null, last_id: data.at(-1)?.id ?? null, has_more: hasMore && data.length > 0 };
}
