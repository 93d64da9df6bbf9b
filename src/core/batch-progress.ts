/**
 * A Batch's live progress: how much is done, how fast, and when it will end at the current rate. Each
 * dialect renders it in its own shape (OpenAI: the `/progress` extension).
 */
import { batchCost, type BatchCost, type Price } from "./batch-cost.ts";
import type { Batch } from "./types.ts";

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
  /** Until every Item is finished at the current rate; null when unknown or the Batch no longer runs. */
  etaMs: number | null;
  elapsedMs: number | null;
  /** Spent so far, projected and at sync price; null when the Batch's Model has no `price`. */
  cost: BatchCost | null;
}

export function batchProgress(batch: Batch, nowMs: number, price?: Price): BatchProgress {
  const { counts } = batch;
  const finished = counts.succeeded + counts.failed + counts.cancelled + counts.expired;
  const pending = Math.max(0, counts.total - finished);
  const endMs = batch.finalizingAtMs ?? batch.cancelledAtMs ?? batch.expiredAtMs ?? nowMs;
  const elapsedMs = batch.inProgressAtMs === null ? null : Math.max(0, endMs - batch.inProgressAtMs);
  // Only Items that ran count towards the rate: cancelled and expired ones end without engine work.
  const rate = elapsedMs !== null && elapsedMs > 0 ? (counts.succeeded + counts.failed) / (elapsedMs / 1000) : null;
  const running = batch.status === "in_progress" || batch.status === "validating";
  return {
    total: counts.total,
    pending,
    succeeded: counts.succeeded,
    failed: counts.failed,
    cancelled: counts.cancelled,
    expired: counts.expired,
    reused: batch.reusedItems,
    itemsPerSecond: rate,
    etaMs: running && rate !== null && rate > 0 ? (pending / rate) * 1000 : null,
    elapsedMs,
    cost: price === undefined ? null : batchCost(batch, price),
  };
}
