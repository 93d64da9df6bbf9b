/**
 * Retention of ended Batches' Items (migration 020): archive the Batches whose retention has passed, then
 * delete their Items a bounded number at a time, so one 1M-Item Batch never holds the writer for long.
 */
import { ENDED_BATCH_STATUSES } from "../shared/batch-statuses-sql.ts";
import type { ArchiveRequest } from "../store.ts";
import type { SqliteDatabase } from "./database.ts";

export function archiveBatches(db: SqliteDatabase, params: ArchiveRequest): string[] {
  const rows = db
    .statement(
      `UPDATE batches SET archived_at_ms = @nowMs
       WHERE id IN (SELECT id FROM batches INDEXED BY batches_to_archive
                    WHERE archived_at_ms IS NULL AND status IN ${ENDED_BATCH_STATUSES} AND created_at_ms <= @createdBeforeMs AND updated_at_ms <= @endedBeforeMs
                    ORDER BY created_at_ms LIMIT @limit)
       RETURNING id, created_at_ms, seq`,
    )
    .all(params) as { id: string; created_at_ms: number; seq: number }[];
  // RETURNING lists rows in no promised order: oldest first, as the Store's contract says.
  return rows.sort((a, b) => a.created_at_ms - b.created_at_ms || a.seq - b.seq).map((row) => row.id);
}

export function purgeArchivedItems(db: SqliteDatabase, archivedBeforeMs: number, limit: number): number {
  return db.immediate(() => {
    let deleted = 0;
    while (deleted < limit) {
      const batch = db
        .statement(
          `SELECT id FROM batches INDEXED BY batches_purging
           WHERE archived_at_ms IS NOT NULL AND items_purged = 0 AND archived_at_ms <= ? ORDER BY archived_at_ms, seq LIMIT 1`,
        )
        .get(archivedBeforeMs) as { id: string } | undefined;
      if (batch === undefined) break;
      // The last index of the next `limit - deleted` Items: both tables are keyed (batch_id, idx).
      const last = db
        .statement("SELECT MAX(idx) AS idx FROM (SELECT idx FROM items WHERE batch_id = ? ORDER BY idx LIMIT ?)")
        .get(batch.id, limit - deleted) as { idx: number | null };
      if (last.idx === null) {
        // None left (a Batch that failed validation has none): its requests too, whatever remains of them.
        db.statement("DELETE FROM item_requests WHERE batch_id = ?").run(batch.id);
        db.statement("UPDATE batches SET items_purged = 1 WHERE id = ?").run(batch.id);
        continue;
      }
      deleted += db.statement("DELETE FROM items WHERE batch_id = ? AND idx <= ?").run(batch.id, last.idx).changes;
      db.statement("DELETE FROM item_requests WHERE batch_id = ? AND idx <= ?").run(batch.id, last.idx);
    }
    return deleted;
  });
}
