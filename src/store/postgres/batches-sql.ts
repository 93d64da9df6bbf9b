/**
 * Batches as clients see them: create, read, list, delete, cancel. The Sweeper's transitions are in
 * batch-lifecycle-sql.ts.
 *
 * Lock order, followed by every transaction that changes a Batch's status: the Batch row first
 * (`SELECT ... FOR NO KEY UPDATE`), then its Items. Under READ COMMITTED this is what turns SQLite's
 * "the write lock serializes everything" into per-Batch serialization: a cancel and a start, or an expiry
 * and a retry, of the same Batch queue on its row instead of both acting on what they read earlier.
 */
import { DEFAULT_TENANT } from "../../core/tenancy.ts";
import { cancelledResult } from "../../core/batch-format.ts";
import type { Batch } from "../../core/types.ts";
import { isTerminal } from "../../core/types.ts";
import { toBatch, type BatchRow } from "../shared/row-mappers.ts";
import { ENDED_BATCH_STATUSES } from "../shared/batch-statuses-sql.ts";
import { batchAlreadyExists, batchNotCancellable, batchNotFound } from "../shared/store-errors.ts";
import type { BatchQuery, NewBatch } from "../store.ts";
import { isUniqueViolation, type PostgresDatabase, type Queryable } from "./database.ts";
import { resultAssignments, resultValues } from "./sql-fragments.ts";

export async function createBatch(db: PostgresDatabase, batch: NewBatch): Promise<Batch> {
  try {
    const { rows } = await db.query<BatchRow>(
      `INSERT INTO batches (id, dialect, kind, endpoint, model, status, input_file_id, invalid_line_policy, display_name,
                            metadata_json, options_json, priority, created_at_ms, updated_at_ms, expires_at_ms,
                            tenant, idempotency_key, request_digest)
       VALUES ($1, $2, $3, $4, $5, 'validating', $6, $7, $8, $9, $10, $11, $12, $12, $13, $14, $15, $16) RETURNING *`,
      [
        batch.id,
        batch.dialect,
        batch.kind,
        batch.endpoint,
        batch.model,
        batch.inputFileId,
        batch.invalidLinePolicy,
        batch.displayName,
        batch.metadata === null ? null : JSON.stringify(batch.metadata),
        JSON.stringify(batch.options),
        batch.priority,
        batch.createdAtMs,
        batch.expiresAtMs,
        batch.tenant ?? DEFAULT_TENANT,
        batch.idempotencyKey ?? null,
        batch.requestDigest ?? null,
      ],
    );
    return toBatch(rows[0] as BatchRow);
  } catch (error) {
    if (isUniqueViolation(error)) throw batchAlreadyExists(batch.id, error);
    throw error;
  }
}

/** The Batch row whether deleted or not, locked for the rest of the transaction. */
export async function lockBatchRow(client: Queryable, id: string): Promise<BatchRow | undefined> {
  const { rows } = await client.query<BatchRow>("SELECT * FROM batches WHERE id = $1 FOR NO KEY UPDATE", [id]);
  return rows[0];
}

/** The Batch as callers see it: deleted Batches are hidden. */
export async function getBatch(db: PostgresDatabase, id: string): Promise<Batch | null> {
  const { rows } = await db.query<BatchRow>("SELECT * FROM batches WHERE id = $1 AND deleted_at_ms IS NULL", [id]);
  return rows[0] ? toBatch(rows[0]) : null;
}

/**
 * Which of `batchIds` are cancelled: cancelling, cancelled, or finalizing as cancelled (a deleted Batch that
 * was running is one of these). See Store.cancelledBatches.
 */
export async function cancelledBatches(db: PostgresDatabase, batchIds: readonly string[]): Promise<string[]> {
  if (batchIds.length === 0) return [];
  const { rows } = await db.query<{ id: string }>(
    `SELECT id FROM batches
     WHERE id = ANY($1::text[])
       AND (status IN ('cancelling', 'cancelled') OR (status = 'finalizing' AND finalizing_as = 'cancelled'))`,
    [batchIds],
  );
  return rows.map((row) => row.id);
}

/** Newest first (seq descending); the cursor is the id of the last Batch of the previous page. */
export async function listBatches(db: PostgresDatabase, query: BatchQuery): Promise<{ batches: Batch[]; hasMore: boolean }> {
  // With beforeId: the Batches just newer than it, read oldest first, then turned around (newest first).
  const backwards = query.beforeId !== undefined;
  const { rows } = await db.query<BatchRow>(
    `SELECT * FROM batches
     WHERE ($1::text IS NULL OR dialect = $1)
       AND ($2::boolean OR deleted_at_ms IS NULL)
       AND ($3::text IS NULL OR seq < (SELECT seq FROM batches WHERE id = $3))
       AND ($5::text[] IS NULL OR status = ANY($5::text[]))
       AND ($6::text IS NULL OR model = $6)
       AND ($7::text IS NULL OR seq > (SELECT seq FROM batches WHERE id = $7))
       AND ($8::text IS NULL OR tenant = $8)
     ORDER BY seq ${backwards ? "ASC" : "DESC"}
     LIMIT $4`,
    [query.dialect ?? null, query.includeDeleted === true, query.afterId ?? null, query.limit + 1, query.statuses ? [...query.statuses] : null, query.model ?? null, query.beforeId ?? null, query.tenant ?? null],
  );
  const page = rows.slice(0, query.limit);
  if (backwards) page.reverse();
  return { batches: page.map(toBatch), hasMore: rows.length > query.limit };
}

/**
 * Turns a Batch's unstarted Items (pending, or staged from before decision 0049) cancelled and counts them, in one statement. Call with
 * the Batch row locked. Always moves updated_at_ms, like every counter update.
 */
export async function cancelUnstartedItems(client: Queryable, batchId: string, nowMs: number): Promise<void> {
  await client.query(
    `WITH cancelled AS (
       UPDATE items SET status = 'cancelled', ${resultAssignments(3)}
       WHERE batch_id = $1 AND status IN ('staged', 'pending')
       RETURNING 1)
     UPDATE batches SET cancelled_items = cancelled_items + (SELECT count(*) FROM cancelled), updated_at_ms = $2
     WHERE id = $1`,
    [batchId, nowMs, ...resultValues(cancelledResult(nowMs))],
  );
}

/** validating | in_progress -> cancelling, unstarted Items cancelled at once; the Batch keeps any validation Lease. */
async function markCancelling(client: Queryable, batchId: string, nowMs: number): Promise<BatchRow> {
  await cancelUnstartedItems(client, batchId, nowMs);
  const { rows } = await client.query<BatchRow>(
    `UPDATE batches SET status = 'cancelling', cancelling_at_ms = $1, updated_at_ms = $1
     WHERE id = $2 AND status IN ('validating', 'in_progress') RETURNING *`,
    [nowMs, batchId],
  );
  return rows[0] as BatchRow;
}

export async function cancelBatch(db: PostgresDatabase, batchId: string, nowMs: number): Promise<Batch> {
  return db.transaction(async (client) => {
    const row = await lockBatchRow(client, batchId);
    if (!row || row.deleted_at_ms !== null) throw batchNotFound(batchId);
    if (row.status === "cancelling") return toBatch(row);
    if (row.status === "finalizing" || isTerminal(row.status)) throw batchNotCancellable(batchId, row.status);
    return toBatch(await markCancelling(client, batchId, nowMs));
  });
}

/**
 * Hides the Batch; an unfinished one is cancelled first so its Items stop and it still ends properly. An
 * ended one is archived too (migration 020): deleted means its requests and results go, not in a month.
 */
export async function deleteBatch(db: PostgresDatabase, batchId: string, nowMs: number): Promise<boolean> {
  return db.transaction(async (client) => {
    const row = await lockBatchRow(client, batchId);
    if (!row || row.deleted_at_ms !== null) return false;
    if (row.status === "validating" || row.status === "in_progress") await markCancelling(client, batchId, nowMs);
    await client.query(
      `UPDATE batches SET deleted_at_ms = $1, updated_at_ms = $1,
         archived_at_ms = CASE WHEN status IN ${ENDED_BATCH_STATUSES} THEN COALESCE(archived_at_ms, $1) END
       WHERE id = $2`,
      [nowMs, batchId],
    );
    return true;
  });
}
