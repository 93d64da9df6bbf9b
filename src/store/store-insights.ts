/**
 * Read-only views for operators, part of the Store contract (store.ts): what the dashboard and the
 * store-derived Prometheus gauges show. They read the database, so they are right whichever process asks
 * (several processes share one PostgreSQL), and none of them runs on the Worker's hot path.
 *
 * Costs, with 100k Batches and million-Item Batches in mind: Batches by status reads the status index;
 * the queue views read the partial indexes of pending and running Items (as large as the queue, not the
 * history); the per-Batch views read one Batch's Items by primary key.
 */
import type { BatchStatus, Item } from "../core/types.ts";

/** The queue of one Model, as the database sees it (every process's Workers together). */
export interface ModelQueue {
  model: string;
  /** Claimable Items (followers waiting for a leader's result are not counted: nobody will claim them). */
  pending: number;
  running: number;
  /**
   * When the oldest pending Item became claimable: the time its Batch last went in_progress. Null when
   * nothing is pending.
   */
  oldestPendingSinceMs: number | null;
}

/** Finished Items of a Batch within one time bucket. */
export interface TimelineBucket {
  /** Start of the bucket, epoch ms. */
  startMs: number;
  succeeded: number;
  failed: number;
  inputTokens: number;
  outputTokens: number;
}

/** Failed Items of a Batch with one error code: `errorCode`, or `http_<status>` for an upstream's answer. */
export interface FailureCount {
  code: string;
  count: number;
}

export interface StoreInsights {
  /** Batches per status (deleted ones left out); statuses with none are 0. */
  countBatchesByStatus(): Promise<Record<BatchStatus, number>>;
  /** One entry per Model with pending or running Items. */
  queueStats(): Promise<ModelQueue[]>;
  /**
   * Succeeded and failed Items of a Batch and their tokens per `bucketMs` since `startMs`, by the time their
   * result was recorded; buckets with nothing finished are left out. Ascending.
   */
  batchTimeline(batchId: string, params: { startMs: number; bucketMs: number }): Promise<TimelineBucket[]>;
  /** Failed Items of a Batch counted by error code, most frequent first. */
  countFailuresByCode(batchId: string): Promise<FailureCount[]>;
  /** Running Items of each of these Batches (those with none are left out): the dashboard's progress bars. */
  countRunningItems(batchIds: readonly string[]): Promise<Record<string, number>>;
  /** Finished Items of a Batch whose client id starts with `prefix`, in input order, at most `limit`. */
  findItemsByClientId(batchId: string, prefix: string, limit: number): Promise<Item[]>;
}
