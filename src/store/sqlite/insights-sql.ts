/** The operators' read views (src/store/store-insights.ts) on SQLite. */
import type { BatchStatus, Item } from "../../core/types.ts";
import { BATCH_STATUSES } from "../store.ts";
import type { FailureCount, ModelQueue, TimelineBucket } from "../store-insights.ts";
import { toTimelineBuckets, type TimelineRow } from "../shared/timeline-rows.ts";
import { ITEM_COLUMNS, toItem, type ItemRow } from "../shared/row-mappers.ts";
import type { SqliteDatabase } from "./database.ts";

export function countBatchesByStatus(db: SqliteDatabase): Record<BatchStatus, number> {
  // The running counts migration 021's triggers keep, not a count of every Batch ever stored.
  const rows = db.statement("SELECT status, count FROM batch_status_counts").all() as { status: BatchStatus; count: number }[];
  const counts = Object.fromEntries(BATCH_STATUSES.map((status) => [status, 0])) as Record<BatchStatus, number>;
  for (const row of rows) counts[row.status] = row.count;
  return counts;
}

/**
 * Pending counts read the claim index (items_pending, covering), counted per Batch in index order, and only
 * in_progress Batches' count: a validating Batch's Items are pending too (decision 0049) but not queued yet.
 * Running Items are few.
 */
export function queueStats(db: SqliteDatabase): ModelQueue[] {
  const pending = db
    .statement(
      `SELECT q.model, sum(q.count) AS count, min(q.batch_seq) AS oldest_seq
       FROM (SELECT model, batch_seq, count(*) AS count FROM items INDEXED BY items_pending WHERE status = 'pending' AND leader_idx IS NULL GROUP BY model, batch_seq) AS q
       JOIN batches b ON b.seq = q.batch_seq
       WHERE b.status = 'in_progress'
       GROUP BY q.model`,
    )
    .all() as { model: string; count: number; oldest_seq: number }[];
  const running = db.statement("SELECT model, count(*) AS count FROM items WHERE status = 'running' GROUP BY model").all() as { model: string; count: number }[];
  const since = db.statement("SELECT in_progress_at_ms FROM batches WHERE seq = ?");
  const queues = new Map<string, ModelQueue>();
  for (const row of pending) {
    const batch = since.get(row.oldest_seq) as { in_progress_at_ms: number | null } | undefined;
    queues.set(row.model, { model: row.model, pending: row.count, running: 0, oldestPendingSinceMs: batch?.in_progress_at_ms ?? null });
  }
  for (const row of running) {
    const queue = queues.get(row.model) ?? { model: row.model, pending: 0, running: 0, oldestPendingSinceMs: null };
    queue.running = row.count;
    queues.set(row.model, queue);
  }
  return [...queues.values()].sort((a, b) => a.model.localeCompare(b.model));
}

/** CAST: better-sqlite3 binds JS numbers as REAL, which would make the division fractional. */
export function batchTimeline(db: SqliteDatabase, batchId: string, params: { startMs: number; bucketMs: number }): TimelineBucket[] {
  const rows = db
    .statement(
      `SELECT CAST((finished_at_ms - @startMs) / @bucketMs AS INTEGER) AS bucket, sum(status = 'succeeded') AS succeeded, sum(status = 'failed') AS failed,
         sum(input_tokens) AS input_tokens, sum(output_tokens) AS output_tokens
       FROM items WHERE batch_id = @batchId AND status IN ('succeeded', 'failed') AND finished_at_ms >= @startMs
       GROUP BY bucket ORDER BY bucket`,
    )
    .all({ batchId, startMs: params.startMs, bucketMs: params.bucketMs }) as TimelineRow[];
  return toTimelineBuckets(rows, params);
}

export function countFailuresByCode(db: SqliteDatabase, batchId: string): FailureCount[] {
  return db
    .statement(
      `SELECT coalesce(error_code, 'http_' || status_code, 'unknown') AS code, count(*) AS count
       FROM items WHERE batch_id = ? AND status = 'failed' GROUP BY code ORDER BY count DESC, code`,
    )
    .all(batchId) as FailureCount[];
}

/** Reads the running-Items index (items_running: batch_id first). */
export function countRunningItems(db: SqliteDatabase, batchIds: readonly string[]): Record<string, number> {
  const rows = db
    .statement("SELECT batch_id, count(*) AS count FROM items INDEXED BY items_running WHERE status = 'running' AND batch_id IN (SELECT value FROM json_each(?)) GROUP BY batch_id")
    .all(JSON.stringify(batchIds)) as { batch_id: string; count: number }[];
  return Object.fromEntries(rows.map((row) => [row.batch_id, row.count]));
}

/** substr, not LIKE: a client id may hold % or _, and LIKE ignores case for ASCII. */
export function findItemsByClientId(db: SqliteDatabase, batchId: string, prefix: string, limit: number): Item[] {
  const rows = db
    .statement(
      `SELECT ${ITEM_COLUMNS} FROM items
       WHERE batch_id = @batchId AND finished_at_ms IS NOT NULL AND substr(client_id, 1, length(@prefix)) = @prefix
       ORDER BY idx LIMIT @limit`,
    )
    .all({ batchId, prefix, limit }) as ItemRow[];
  return rows.map(toItem);
}
