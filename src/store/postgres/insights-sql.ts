/** The operators' read views (src/store/store-insights.ts) on PostgreSQL; same results as src/store/sqlite/insights-sql.ts. */
import type { BatchStatus, Item } from "../../core/types.ts";
import { BATCH_STATUSES } from "../store.ts";
import type { FailureCount, ModelQueue, TimelineBucket } from "../store-insights.ts";
import { toTimelineBuckets, type TimelineRow } from "../shared/timeline-rows.ts";
import { ITEM_COLUMNS, toItem, type ItemRow } from "../shared/row-mappers.ts";
import type { PostgresDatabase } from "./database.ts";

export async function countBatchesByStatus(db: PostgresDatabase): Promise<Record<BatchStatus, number>> {
  // The running counts migration 021's triggers keep (a few rows per status), not a count of every Batch.
  const { rows } = await db.query<{ status: BatchStatus; count: string }>("SELECT status, SUM(count)::text AS count FROM batch_status_counts GROUP BY status");
  const counts = Object.fromEntries(BATCH_STATUSES.map((status) => [status, 0])) as Record<BatchStatus, number>;
  for (const row of rows) counts[row.status] = Number(row.count);
  return counts;
}

/**
 * Pending counts read the claim index (items_pending), per Batch, and count only in_progress Batches: a
 * validating Batch's Items are pending too (decision 0049) but not queued yet.
 */
export async function queueStats(db: PostgresDatabase): Promise<ModelQueue[]> {
  const { rows } = await db.query<{ model: string; pending: number; running: number; oldest_since_ms: number | null }>(
    `WITH pending AS (
       SELECT q.model, sum(q.count)::bigint AS pending, min(q.batch_seq) AS oldest_seq
       FROM (SELECT model, batch_seq, count(*) AS count FROM items WHERE status = 'pending' AND leader_idx IS NULL GROUP BY model, batch_seq) AS q
         JOIN batches b ON b.seq = q.batch_seq
       WHERE b.status = 'in_progress'
       GROUP BY q.model),
     running AS (
       SELECT model, count(*) AS running FROM items WHERE status = 'running' GROUP BY model)
     SELECT coalesce(p.model, r.model) AS model, coalesce(p.pending, 0) AS pending, coalesce(r.running, 0) AS running,
       (SELECT b.in_progress_at_ms FROM batches b WHERE b.seq = p.oldest_seq) AS oldest_since_ms
     FROM pending p FULL JOIN running r ON r.model = p.model
     ORDER BY 1`,
  );
  return rows.map((row) => ({ model: row.model, pending: row.pending, running: row.running, oldestPendingSinceMs: row.oldest_since_ms }));
}

export async function batchTimeline(db: PostgresDatabase, batchId: string, params: { startMs: number; bucketMs: number }): Promise<TimelineBucket[]> {
  const { rows } = await db.query<TimelineRow>(
    `SELECT (finished_at_ms - $2) / $3 AS bucket, count(*) FILTER (WHERE status = 'succeeded') AS succeeded,
       count(*) FILTER (WHERE status = 'failed') AS failed, sum(input_tokens) AS input_tokens, sum(output_tokens) AS output_tokens
     FROM items WHERE batch_id = $1 AND status IN ('succeeded', 'failed') AND finished_at_ms >= $2
     GROUP BY bucket ORDER BY bucket`,
    [batchId, params.startMs, params.bucketMs],
  );
  return toTimelineBuckets(rows, params);
}

export async function countFailuresByCode(db: PostgresDatabase, batchId: string): Promise<FailureCount[]> {
  const { rows } = await db.query<FailureCount>(
    `SELECT coalesce(error_code, 'http_' || status_code, 'unknown') AS code, count(*) AS count
     FROM items WHERE batch_id = $1 AND status = 'failed' GROUP BY 1 ORDER BY 2 DESC, 1`,
    [batchId],
  );
  return rows;
}

export async function countRunningItems(db: PostgresDatabase, batchIds: readonly string[]): Promise<Record<string, number>> {
  const { rows } = await db.query<{ batch_id: string; count: number }>(
    "SELECT batch_id, count(*) AS count FROM items WHERE status = 'running' AND batch_id = ANY($1::text[]) GROUP BY batch_id",
    [[...batchIds]],
  );
  return Object.fromEntries(rows.map((row) => [row.batch_id, row.count]));
}

export async function findItemsByClientId(db: PostgresDatabase, batchId: string, prefix: string, limit: number): Promise<Item[]> {
  const { rows } = await db.query<ItemRow>(
    `SELECT ${ITEM_COLUMNS} FROM items
     WHERE batch_id = $1 AND finished_at_ms IS NOT NULL AND starts_with(client_id, $2)
     ORDER BY idx LIMIT $3`,
    [batchId, prefix, limit],
  );
  return rows.map(toItem);
}
