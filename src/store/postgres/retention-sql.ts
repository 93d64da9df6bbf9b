/**
 * Retention of ended Batches' Items (migration 020): archive the Batches whose retention has passed, then
 * delete their Items a bounded number at a time. Several processes may run both at once: the archiving
 * skips Batches another process is archiving, and the deletes of one Batch's Items queue on its row.
 */
import { ENDED_BATCH_STATUSES } from "../shared/batch-statuses-sql.ts";
import type { ArchiveRequest } from "../store.ts";
import type { PostgresDatabase } from "./database.ts";

export async function archiveBatches(db: PostgresDatabase, params: ArchiveRequest): Promise<string[]> {
  const { rows } = await db.query<{ id: string }>(
    // RETURNING lists rows in the order the UPDATE met them (the IN list's hash, not created_at_ms).
    `WITH archived AS (
       UPDATE batches SET archived_at_ms = $2
       WHERE id IN (SELECT id FROM batches
                    WHERE archived_at_ms IS NULL AND status IN ${ENDED_BATCH_STATUSES} AND created_at_ms <= $1 AND updated_at_ms <= $4
                    ORDER BY created_at_ms LIMIT $3 FOR UPDATE SKIP LOCKED)
       RETURNING id, created_at_ms, seq)
     SELECT id FROM archived ORDER BY created_at_ms, seq`,
    [params.createdBeforeMs, params.nowMs, params.limit, params.endedBeforeMs],
  );
  return rows.map((row) => row.id);
}

export async function purgeArchivedItems(db: PostgresDatabase, archivedBeforeMs: number, limit: number): Promise<number> {
  return db.transaction(async (client) => {
    // As readItems (decision 0037): statistics know nothing of a Batch's 100k rows, and a bitmap scan of
    // them plus a sort (30 ms a chunk, measured) is picked over the key-ordered walk that stops at `limit`.
    await client.query("SET LOCAL enable_bitmapscan = off");
    let deleted = 0;
    while (deleted < limit) {
      // The Batch row is locked for the transaction: another process purging picks the next Batch.
      const { rows: batches } = await client.query<{ id: string }>(
        `SELECT id FROM batches WHERE archived_at_ms IS NOT NULL AND NOT items_purged AND archived_at_ms <= $1
         ORDER BY archived_at_ms, seq LIMIT 1 FOR UPDATE SKIP LOCKED`,
        [archivedBeforeMs],
      );
      const batch = batches[0];
      if (batch === undefined) break;
      // The last index of the next `limit - deleted` Items: both tables are keyed (batch_id, idx).
      const { rows: last } = await client.query<{ idx: number | null }>(
        "SELECT MAX(idx) AS idx FROM (SELECT idx FROM items WHERE batch_id = $1 ORDER BY idx LIMIT $2) AS next",
        [batch.id, limit - deleted],
      );
      const lastIdx = last[0]?.idx ?? null;
      if (lastIdx === null) {
        // None left (a Batch that failed validation has none): its requests too, whatever remains of them.
        await client.query("DELETE FROM item_requests WHERE batch_id = $1", [batch.id]);
        await client.query("UPDATE batches SET items_purged = true WHERE id = $1", [batch.id]);
        continue;
      }
      const { rowCount } = await client.query("DELETE FROM items WHERE batch_id = $1 AND idx <= $2", [batch.id, lastIdx]);
      await client.query("DELETE FROM item_requests WHERE batch_id = $1 AND idx <= $2", [batch.id, lastIdx]);
      deleted += rowCount ?? 0;
    }
    return deleted;
  });
}
