/**
 * What the scheduler reads and writes, part of the Store contract (store.ts): the Batches queued on a
 * Model, and the Model's measured throughput (issue 12; docs/decisions/0017-fair-share-deadlines-sched.md).
 *
 * The Worker lane of each Model reads `queuedBatches` every poll interval (not per claim) and shares its
 * claims across them (src/scheduling/); progress reads use both to forecast a Batch's finish. Neither is
 * on the per-Item path, and neither grows with the number of Items queued.
 */

/** A Batch with claimable Items of one Model. */
export interface QueuedBatch {
  id: string;
  /** Its owner: tenants share a Model's capacity equally before their Batches share a tenant's part. */
  tenant: string;
  seq: number;
  priority: number;
  createdAtMs: number;
  /** The end of its completion window. */
  expiresAtMs: number;
  /** Items without a result yet, from the Batch's counters: pending and running, followers included. */
  remaining: number;
}

/** A Model's throughput, summed over the processes that reported it in the latest round. */
export interface ModelThroughput {
  itemsPerSecond: number;
  /** When the newest of the summed reports was made. */
  measuredAtMs: number;
}

export interface SchedulingViews {
  /**
   * The Batches with claimable Items (pending, not followers) of `model`, oldest first, at most `limit`.
   * Found by skipping through the claim index one Batch at a time (a recursive query: "the first Batch
   * after this one"), so the cost is one index probe per Batch whatever the number of Items; the Batch
   * rows are then read by seq. Batches whose Items are all running are not listed.
   */
  queuedBatches(model: string, limit: number): Promise<QueuedBatch[]>;
  /** Replaces this process's (`owner`'s) report for `model`; forgets reports older than a day. */
  recordThroughput(report: { owner: string; model: string; itemsPerSecond: number; nowMs: number }): Promise<void>;
  /**
   * The sum of the reports for `model` made within `spanMs` of the newest one (one reporting round: the
   * processes alive then), or null when there is none. However old that round is: the last known capacity
   * of an idle Model is still the best guess for the next Batch.
   */
  modelThroughput(model: string, spanMs: number): Promise<ModelThroughput | null>;
}
