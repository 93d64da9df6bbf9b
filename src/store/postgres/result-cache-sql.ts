/**
 * The result cache across Batches (migration 015; the rules are in the Store contract: startBatch,
 * completeItems, purgeResultCache). The SQLite Store has the same statements in its own SQL; recording a
 * result to the cache is a step of completeItems' statement here (items-sql.ts, `cached`).
 */
import type { Dialect } from "../../core/types.ts";
import type { CachedModel } from "../store.ts";
import type { PostgresDatabase, Queryable } from "./database.ts";

/**
 * Finishes the pending Items of one Batch being started that match a cached result, and counts them, in one statement.
 * Call with the Batch row locked (startBatch).
 */
export async function takeCachedResults(client: Queryable, batch: { id: string; tenant: string; dialect: Dialect }, models: readonly CachedModel[], nowMs: number): Promise<void> {
  await client.query(
    `WITH m AS (SELECT * FROM unnest($4::text[], $5::bigint[]) AS m (model, not_before_ms)),
     taken AS (
       UPDATE items i SET status = 'succeeded', status_code = c.status_code, body = c.body, error_code = NULL, error_message = NULL,
         request_id = c.request_id, input_tokens = 0, output_tokens = 0, finished_at_ms = $6
       FROM result_cache c, m
       WHERE i.batch_id = $1 AND i.status = 'pending' AND i.request_hash IS NOT NULL AND i.model = m.model
         AND c.tenant = $2 AND c.model = i.model AND c.request_hash = i.request_hash
         AND c.dialect = $3 AND c.kind = i.kind AND c.created_at_ms >= m.not_before_ms
       RETURNING 1)
     UPDATE batches SET succeeded_items = succeeded_items + n, reused_items = reused_items + n, updated_at_ms = $6
     FROM (SELECT count(*) AS n FROM taken) AS t
     WHERE id = $1 AND t.n > 0`,
    [batch.id, batch.tenant, batch.dialect, models.map((m) => m.model), models.map((m) => m.notBeforeMs), nowMs],
  );
}

/** Deletes up to `limit` entries no Model may reuse any more (too old, or their Model's cache is off). */
export async function purgeResultCache(db: PostgresDatabase, keep: readonly CachedModel[], limit: number): Promise<number> {
  const { rowCount } = await db.query(
    `DELETE FROM result_cache WHERE ctid IN (
       SELECT c.ctid FROM result_cache c LEFT JOIN unnest($1::text[], $2::bigint[]) AS k (model, not_before_ms) ON k.model = c.model
       WHERE k.model IS NULL OR c.created_at_ms < k.not_before_ms
       ORDER BY c.created_at_ms LIMIT $3)`,
    [keep.map((m) => m.model), keep.map((m) => m.notBeforeMs), limit],
  );
  return rowCount ?? 0;
}
