/** The scheduler's views (src/store/scheduling-views.ts) on PostgreSQL; mirrors ../sqlite/scheduling-sql.ts. */
import type { ModelThroughput, QueuedBatch } from "../scheduling-views.ts";
import { QUEUED_BATCH_COLUMNS, toQueuedBatch, type QueuedBatchRow } from "../shared/row-mappers.ts";
import type { PostgresDatabase } from "./database.ts";

/** Reports older than this are deleted by the next write: their process is long gone. */
const FORGET_AFTER_MS = 86_400_000;

/**
 * A loose index scan: PostgreSQL has no skip scan (before 18), so `SELECT DISTINCT batch_seq` would read
 * every pending Item's index entry; the recursive query asks the claim index for the first queued Batch
 * after the previous one instead, one probe per Batch. Only in_progress Batches are queued; the walk goes
 * past as many more as there are Batches whose pending Items are not claimable yet (validating, or
 * cancelled while validating; decision 0049), mirroring the SQLite view.
 */
const QUEUED_BATCHES_SQL = `
  WITH RECURSIVE queued(seq) AS (
    (SELECT batch_seq FROM items WHERE status = 'pending' AND leader_idx IS NULL AND model = $1 ORDER BY batch_seq LIMIT 1)
    UNION ALL
    SELECT (SELECT batch_seq FROM items
            WHERE status = 'pending' AND leader_idx IS NULL AND model = $1 AND batch_seq > queued.seq ORDER BY batch_seq LIMIT 1)
    FROM queued WHERE queued.seq IS NOT NULL)
  SELECT ${QUEUED_BATCH_COLUMNS}
  FROM (SELECT seq FROM queued WHERE seq IS NOT NULL LIMIT $2 + (SELECT count(*) FROM batches WHERE status IN ('validating', 'cancelling'))) AS q
    JOIN batches b ON b.seq = q.seq
  WHERE b.status = 'in_progress'
  ORDER BY b.seq
  LIMIT $2`;

export async function queuedBatches(db: PostgresDatabase, model: string, limit: number): Promise<QueuedBatch[]> {
  if (limit <= 0) return [];
  const { rows } = await db.query<QueuedBatchRow>(QUEUED_BATCHES_SQL, [model, limit]);
  return rows.map(toQueuedBatch);
}

export async function recordThroughput(db: PostgresDatabase, report: { owner: string; model: string; itemsPerSecond: number; nowMs: number }): Promise<void> {
  await db.query(
    `WITH upsert AS (
       INSERT INTO model_throughput (model, owner, items_per_second, measured_at_ms) VALUES ($1, $2, $3, $4)
       ON CONFLICT (model, owner) DO UPDATE SET items_per_second = excluded.items_per_second, measured_at_ms = excluded.measured_at_ms)
     DELETE FROM model_throughput WHERE model = $1 AND measured_at_ms < $5`,
    [report.model, report.owner, report.itemsPerSecond, report.nowMs, report.nowMs - FORGET_AFTER_MS],
  );
}

export async function modelThroughput(db: PostgresDatabase, model: string, spanMs: number): Promise<ModelThroughput | null> {
  const { rows } = await db.query<{ rate: number | null; at: number | null }>(
    `SELECT sum(items_per_second) AS rate, max(measured_at_ms) AS at FROM model_throughput
     WHERE model = $1 AND measured_at_ms >= (SELECT max(measured_at_ms) FROM model_throughput WHERE model = $1) - $2`,
    [model, spanMs],
  );
  const row = rows[0];
  return row === undefined || row.rate === null || row.at === null ? null : { itemsPerSecond: row.rate, measuredAtMs: row.at };
}
