/** The scheduler's views (src/store/scheduling-views.ts) on SQLite. */
import type { ModelThroughput, QueuedBatch } from "../scheduling-views.ts";
import { QUEUED_BATCH_COLUMNS, toQueuedBatch, type QueuedBatchRow } from "../shared/row-mappers.ts";
import type { SqliteDatabase } from "./database.ts";

/** Reports older than this are deleted by the next write: their process is long gone. */
const FORGET_AFTER_MS = 86_400_000;

/**
 * A loose index scan: SQLite has no skip-scan for "distinct batch_seq of this model", so the recursive
 * query asks the claim index for the first queued Batch after the previous one, one probe per Batch.
 * A plain `SELECT DISTINCT batch_seq` would read every pending Item's index entry: a 200k-Item Batch
 * would cost 200k entries per read instead of one. CROSS JOIN keeps the queued Batches the outer loop (SQLite
 * never reorders it): a planner that started from `batches` would scan every Batch ever created.
 *
 * Only in_progress Batches are queued: a Batch still validating (or cancelled while it validated) has
 * pending Items too (decision 0049), which the claim would not take. The walk goes as many Batches further
 * as there are such Batches, so that `limit` in_progress ones are still found.
 */
const QUEUED_BATCHES_SQL = `
  WITH RECURSIVE queued(seq) AS (
    SELECT (SELECT batch_seq FROM items INDEXED BY items_pending
            WHERE status = 'pending' AND leader_idx IS NULL AND model = @model ORDER BY batch_seq LIMIT 1)
    UNION ALL
    SELECT (SELECT batch_seq FROM items INDEXED BY items_pending
            WHERE status = 'pending' AND leader_idx IS NULL AND model = @model AND batch_seq > queued.seq ORDER BY batch_seq LIMIT 1)
    FROM queued WHERE queued.seq IS NOT NULL
    LIMIT @limit + 1 + (SELECT count(*) FROM batches WHERE status IN ('validating', 'cancelling')))
  SELECT ${QUEUED_BATCH_COLUMNS}
  FROM queued CROSS JOIN batches b ON b.seq = queued.seq
  WHERE b.status = 'in_progress'
  ORDER BY b.seq
  LIMIT @limit`;

export function queuedBatches(db: SqliteDatabase, model: string, limit: number): QueuedBatch[] {
  if (limit <= 0) return [];
  const rows = db.statement(QUEUED_BATCHES_SQL).all({ model, limit }) as QueuedBatchRow[];
  return rows.map(toQueuedBatch);
}

export function recordThroughput(db: SqliteDatabase, report: { owner: string; model: string; itemsPerSecond: number; nowMs: number }): void {
  db.immediate(() => {
    db.statement(
      `INSERT INTO model_throughput (model, owner, items_per_second, measured_at_ms) VALUES (?, ?, ?, ?)
       ON CONFLICT (model, owner) DO UPDATE SET items_per_second = excluded.items_per_second, measured_at_ms = excluded.measured_at_ms`,
    ).run(report.model, report.owner, report.itemsPerSecond, report.nowMs);
    db.statement("DELETE FROM model_throughput WHERE model = ? AND measured_at_ms < ?").run(report.model, report.nowMs - FORGET_AFTER_MS);
  });
}

export function modelThroughput(db: SqliteDatabase, model: string, spanMs: number): ModelThroughput | null {
  const row = db
    .statement(
      `SELECT sum(items_per_second) AS rate, max(measured_at_ms) AS at FROM model_throughput
       WHERE model = @model AND measured_at_ms >= (SELECT max(measured_at_ms) FROM model_throughput WHERE model = @model) - @spanMs`,
    )
    .get({ model, spanMs }) as { rate: number | null; at: number | null } | undefined;
  return row?.rate === null || row?.rate === undefined || row.at === null ? null : { itemsPerSecond: row.rate, measuredAtMs: row.at };
}
