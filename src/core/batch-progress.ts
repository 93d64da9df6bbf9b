/**
 * A Batch's live progress: how much is done, how fast, and when it will end. Each dialect renders it in its
 * own shape (OpenAI: the `/progress` extension); the dashboard shows it for every dialect.
 *
 * The finish time comes from the scheduler's forecast when there is one (src/scheduling/forecast.ts: the
 * Model's measured throughput, split the way the Workers will split it across the Batches queued with
 * this one); otherwise from the Batch's own rate since it started, as before the scheduler existed.
 */
import { batchCost, type BatchCost, type Price } from "./batch-cost.ts";
import type { Batch } from "./types.ts";

/** What the scheduler expects for one Batch (src/scheduling/forecast.ts makes it). */
export interface BatchForecast {
  /** When its last Item is forecast to finish; null when unknown (no measured capacity) or beyond the horizon. */
  finishMs: number | null;
  /** Its part of the Model's capacity now (0..1). */
  share: number;
  /** Held for the Model's batch hours until then; null when it runs now. */
  heldUntilMs: number | null;
}

export interface BatchProgress {
  total: number;
  /** Items without a result yet (queued or running). */
  pending: number;
  succeeded: number;
  failed: number;
  cancelled: number;
  expired: number;
  /**
   * Items that got a copy of an identical Item's result instead of running (duplicate reuse); also
   * counted in succeeded or failed. Progress only: result files never mark them.
   */
  reused: number;
  /** Finished Items per second since the Batch went in_progress; null before it did. */
  itemsPerSecond: number | null;
  /** Until every Item is finished (see estimatedFinishMs); null when unknown or the Batch no longer runs. */
  etaMs: number | null;
  elapsedMs: number | null;
  /** Spent so far, projected and at sync price; null when the Batch's Model has no `price` (and no backend charged it). */
  cost: BatchCost | null;
  priority: number;
  /** The end of the completion window: the deadline the scheduler works to. */
  deadlineMs: number;
  /** When every Item is expected to have finished; null when unknown or the Batch no longer runs. */
  estimatedFinishMs: number | null;
  /** Whether that is within the completion window; null when unknown or the Batch no longer runs. */
  meetsDeadline: boolean | null;
  /** Its part of its Model's capacity now (0..1); null when it has no Items queued. */
  share: number | null;
  /** Waiting for its Model's batch hours (off-peak window) until then; null when it may run now. */
  heldUntilMs: number | null;
}

export function batchProgress(batch: Batch, nowMs: number, forecast: BatchForecast | null = null, price?: Price): BatchProgress {
  const { counts } = batch;
  const finished = counts.succeeded + counts.failed + counts.cancelled + counts.expired;
  const pending = Math.max(0, counts.total - finished);
  const endMs = batch.finalizingAtMs ?? batch.cancelledAtMs ?? batch.expiredAtMs ?? nowMs;
  const elapsedMs = batch.inProgressAtMs === null ? null : Math.max(0, endMs - batch.inProgressAtMs);
  // Only Items that ran count towards the rate: cancelled and expired ones end without engine work.
  const rate = elapsedMs !== null && elapsedMs > 0 ? (counts.succeeded + counts.failed) / (elapsedMs / 1000) : null;
  const running = batch.status === "in_progress" || batch.status === "validating";
  const ownEtaMs = running && rate !== null && rate > 0 ? (pending / rate) * 1000 : null;
  const forecastFinishMs = running ? (forecast?.finishMs ?? null) : null;
  const estimatedFinishMs = forecastFinishMs ?? (ownEtaMs === null ? null : nowMs + ownEtaMs);
  return {
    total: counts.total,
    pending,
    succeeded: counts.succeeded,
    failed: counts.failed,
    cancelled: counts.cancelled,
    expired: counts.expired,
    reused: batch.reusedItems,
    itemsPerSecond: rate,
    etaMs: estimatedFinishMs === null ? null : Math.max(0, estimatedFinishMs - nowMs),
    elapsedMs,
    cost: batchCost(batch, price),
    priority: batch.priority,
    deadlineMs: batch.expiresAtMs,
    estimatedFinishMs,
    meetsDeadline: estimatedFinishMs === null ? null : estimatedFinishMs <= batch.expiresAtMs,
    share: running && forecast ? forecast.share : null,
    heldUntilMs: running ? (forecast?.heldUntilMs ?? null) : null,
  };
}
