/**
 * Domain objects to Anthropic wire objects: MessageBatch, its request_counts and lifecycle, list pages.
 *
 * Lifecycle: the service has three states and no validating phase, so spool's are folded onto them:
 *   validating, in_progress, finalizing      -> in_progress (canceling once a cancel was asked for)
 *   cancelling                               -> canceling
 *   completed, failed, expired, cancelled    -> ended (results_url set)
 * `request_counts` are live (an improvement the spec allows: the service moves requests out of `processing`
 * only when the whole batch ends) and always sum to the number of requests.
 */
import type { BatchProgress } from "../../core/batch-progress.ts";
import { toScheduleWire } from "../schedule-wire.ts";
import { isTerminal, type Batch } from "../../core/types.ts";
import { toTimestamp } from "./wire.ts";

export type ProcessingStatus = "in_progress" | "canceling" | "ended";

export interface MessageBatchRequestCounts {
  processing: number;
  succeeded: number;
  errored: number;
  canceled: number;
  expired: number;
}

export interface MessageBatch {
  id: string;
  type: "message_batch";
  processing_status: ProcessingStatus;
  request_counts: MessageBatchRequestCounts;
  created_at: string;
  expires_at: string;
  ended_at: string | null;
  cancel_initiated_at: string | null;
  archived_at: string | null;
  results_url: string | null;
}

export function processingStatusOf(batch: Batch): ProcessingStatus {
  if (isTerminal(batch.status)) return "ended";
  return batch.cancellingAtMs !== null ? "canceling" : "in_progress";
}

/** Requests in the Batch: its Items once validated, the create's count before (inline batches record it). */
export function requestTotalOf(batch: Batch): number {
  const requested = typeof batch.options.requestCount === "number" ? batch.options.requestCount : 0;
  return Math.max(batch.counts.total, requested);
}

export function requestCountsOf(batch: Batch): MessageBatchRequestCounts {
  const { counts } = batch;
  const total = requestTotalOf(batch);
  const finished = counts.succeeded + counts.failed + counts.cancelled + counts.expired;
  // A failed Batch (it could not be validated) ran nothing: its requests that have no result errored.
  const unfinished = Math.max(0, total - finished);
  const failedBatch = batch.status === "failed";
  return {
    processing: failedBatch ? 0 : unfinished,
    succeeded: counts.succeeded,
    errored: counts.failed + (failedBatch ? unfinished : 0),
    canceled: counts.cancelled,
    expired: counts.expired,
  };
}

/** When processing ended: whichever final status the Batch reached. */
export function endedAtMs(batch: Batch): number | null {
  if (!isTerminal(batch.status)) return null;
  return batch.completedAtMs ?? batch.cancelledAtMs ?? batch.expiredAtMs ?? batch.failedAtMs ?? batch.updatedAtMs;
}

/**
 * `resultsUrl` is the absolute URL of the results (the SDK's `results()` GETs it verbatim), given only
 * once the Batch ended: the SDK reads a null as "not finished yet".
 */
export function toMessageBatch(batch: Batch, resultsUrl: string): MessageBatch {
  const status = processingStatusOf(batch);
  return {
    id: batch.id,
    type: "message_batch",
    processing_status: status,
    request_counts: requestCountsOf(batch),
    created_at: toTimestamp(batch.createdAtMs) ?? "",
    expires_at: toTimestamp(batch.expiresAtMs) ?? "",
    ended_at: toTimestamp(endedAtMs(batch)),
    cancel_initiated_at: toTimestamp(batch.cancellingAtMs),
    archived_at: toTimestamp(batch.archivedAtMs),
    results_url: status === "ended" ? resultsUrl : null,
  };
}

export interface MessageBatchPage {
  data: MessageBatch[];
  has_more: boolean;
  first_id: string | null;
  last_id: string | null;
}

/**
 * A list page, newest first. The SDK pages forwards with `after_id = last_id` and, when the first call had
 * `before_id`, backwards with `before_id = first_id`; `has_more` says whether that direction has more.
 */
export function toMessageBatchPage(data: MessageBatch[], hasMore: boolean): MessageBatchPage {
  return { data, has_more: hasMore && data.length > 0, first_id: data[0]?.id ?? null, last_id: data.at(-1)?.id ?? null };
}

/** spool's progress extension (`GET /v1/messages/batches/{id}/progress`), in Anthropic's naming. */
export function toMessageBatchProgress(batch: Batch, progress: BatchProgress): Record<string, unknown> {
  const { itemsPerSecond: rate, etaMs, elapsedMs } = progress;
  return {
    id: batch.id,
    type: "message_batch_progress",
    processing_status: processingStatusOf(batch),
    request_counts: { ...requestCountsOf(batch), reused: progress.reused },
    requests_per_second: rate === null ? null : Math.round(rate * 100) / 100,
    eta_seconds: etaMs === null ? null : Math.ceil(etaMs / 1000),
    elapsed_seconds: elapsedMs === null ? null : Math.floor(elapsedMs / 1000),
    usage: { input_tokens: batch.usage.inputTokens, output_tokens: batch.usage.outputTokens },
    schedule: toScheduleWire(progress),
  };
}
