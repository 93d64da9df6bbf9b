/** Batches as clients see them: create, read, list, delete, cancel. The Sweeper's transitions are in batch-lifecycle-sql.ts. */
import { DEFAULT_TENANT } from "../../core/tenancy.ts";
import { cancelledResult } from "../../core/batch-format.ts";
import type { Batch } from "../../core/types.ts";
import { isTerminal } from "../../core/types.ts";
import type { BatchQuery, NewBatch } from "../store.ts";
import { CountDeltas } from "./counters.ts";
import { isUniqueViolation, type SqliteDatabase } from "./database.ts";
import { resultParams, RESULT_ASSIGNMENTS, toBatch, type BatchRow } from "../shared/row-mappers.ts";
import { ENDED_BATCH_STATUSES } from "../shared/batch-statuses-sql.ts";
import { batchAlreadyExists, batchNotCancellable, batchNotFound } from "../shared/store-errors.ts";

export function createBatch(db: SqliteDatabase, batch: NewBatch): Batch {
  try {
    const row = db.writeReturning<BatchRow>(
      `INSERT INTO batches (id, dialect, kind, endpoint, model, status, input_file_id, invalid_line_policy, display_name,
                            metadata_json, options_json, priority, created_at_ms, updated_at_ms, expires_at_ms,
                            tenant, idempotency_key, request_digest)
       VALUES (?, ?, ?, ?, ?, 'validating', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING *`,
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
      batch.createdAtMs,
      batch.expiresAtMs,
      batch.tenant ?? DEFAULT_TENANT,
      batch.idempotencyKey ?? null,
      batch.requestDigest ?? null,
    );
    return toBatch(row as BatchRow);
  } catch (error) {
    if (isUniqueViolation(error)) throw batchAlreadyExists(batch.id, error);
    throw error;
  }
}

/** The Batch row whether deleted or not (internal transitions still apply to deleted Batches). */
export function getBatchRow(db: SqliteDatabase, id: string): BatchRow | undefined {
  return db.statement("SELECT * FROM batches WHERE id = ?").get(id) as BatchRow | undefined;
}

/** The Batch as callers see it: deleted Batches are hidden. */
export function getBatch(db: SqliteDatabase, id: string): Batch | null {
  const row = getBatchRow(db, id);
  return row && row.deleted_at_ms === null ? toBatch(row) : null;
}

/**
 * Which of `batchIds` are cancelled: cancelling, cancelled, or finalizing as cancelled (a deleted Batch that
 * was running is one of these). See Store.cancelledBatches.
 */
export function cancelledBatches(db: SqliteDatabase, batchIds: readonly string[]): string[] {
  if (batchIds.length === 0) return [];
  const rows = db
    .statement(
      `SELECT id FROM batches
       WHERE id IN (SELECT value FROM json_each(?))
         AND (status IN ('cancelling', 'cancelled') OR (status = 'finalizing' AND finalizing_as = 'cancelled'))`,
    )
    .all(JSON.stringify(batchIds)) as { id: string }[];
  return rows.map((row) => row.id);
}

/**
 * Newest first (seq descending); the cursor is the id of the last Batch of the previous page. With `beforeId`
 * the page is the Batches just newer than that one: read oldest first from it, then turned around.
 *
 * Only the filters given become conditions (decision 0030): a generic `(@x IS NULL OR x = @x)` hides the
 * column from the planner, so a page deep in a long list or a status filter scanned the whole table newest
 * first (up to 19 ms at 100k finished Batches, growing with every Batch ever made); bound, the cursor is a
 * range of the primary key and a status, Model or tenant is an index probe.
 */
export function listBatches(db: SqliteDatabase, query: BatchQuery): { batches: Batch[]; hasMore: boolean } {
  const backwards = query.beforeId !== undefined;
  const where: string[] = [];
  const params: Record<string, unknown> = { limit: query.limit + 1 };
  const when = (value: unknown, name: string, condition: string): void => {
    if (value === undefined || value === null) return;
    where.push(condition);
    params[name] = value;
  };
  when(query.dialect, "dialect", "dialect = @dialect");
  // With a status or Model filter its index finds the few rows (the `+` keeps the planner off the tenant
  // index, whose seq order it would otherwise walk to the end); without one the tenant index serves.
  when(query.tenant, "tenant", query.statuses || query.model !== undefined ? "+tenant = @tenant" : "tenant = @tenant");
  if (!query.includeDeleted) where.push("deleted_at_ms IS NULL");
  when(query.afterId, "afterId", "seq < (SELECT seq FROM batches WHERE id = @afterId)");
  when(query.beforeId, "beforeId", "seq > (SELECT seq FROM batches WHERE id = @beforeId)");
  // Bound one by one, not json_each: the planner must see a short list to pick the status index.
  if (query.statuses) {
    const names = query.statuses.map((status, i) => {
      params[`status${i}`] = status;
      return `@status${i}`;
    });
    where.push(names.length === 0 ? "0" : `status IN (${names.join(", ")})`);
  }
  when(query.model, "model", "model = @model");
  const rows = db
    .statement(`SELECT * FROM batches ${where.length > 0 ? `WHERE ${where.join(" AND ")}` : ""} ORDER BY seq ${backwards ? "ASC" : "DESC"} LIMIT @limit`)
    .all(params) as BatchRow[];
  const page = rows.slice(0, query.limit);
  if (backwards) page.reverse();
  return { batches: page.map(toBatch), hasMore: rows.length > query.limit };
}

/**
 * Turns a Batch's unstarted Items cancelled and counts them (pending; staged ones too, which a store
 * upgraded from before decision 0049 may hold). Must run inside a transaction.
 */
export function cancelUnstartedItems(db: SqliteDatabase, batchId: string, nowMs: number, counts: CountDeltas): void {
  const update = db.statement(`UPDATE items SET status = 'cancelled', ${RESULT_ASSIGNMENTS} WHERE batch_id = ? AND status = ?`);
  const params = resultParams(cancelledResult(nowMs));
  const staged = update.run(...params, batchId, "staged").changes;
  const pending = update.run(...params, batchId, "pending").changes;
  counts.add(batchId, "cancelled", staged + pending);
}

/** validating | in_progress -> cancelling, Items not started cancelled at once; the Batch keeps any validation Lease. */
function markCancelling(db: SqliteDatabase, batchId: string, nowMs: number): void {
  const counts = new CountDeltas();
  cancelUnstartedItems(db, batchId, nowMs, counts);
  counts.apply(db, nowMs);
  db.statement(
    `UPDATE batches SET status = 'cancelling', cancelling_at_ms = @nowMs, updated_at_ms = @nowMs
     WHERE id = @batchId AND status IN ('validating', 'in_progress')`,
  ).run({ nowMs, batchId });
}

export function cancelBatch(db: SqliteDatabase, batchId: string, nowMs: number): Batch {
  return db.immediate(() => {
    const row = getBatchRow(db, batchId);
    if (!row || row.deleted_at_ms !== null) throw batchNotFound(batchId);
    if (row.status === "cancelling") return toBatch(row);
    if (row.status === "finalizing" || isTerminal(row.status)) throw batchNotCancellable(batchId, row.status);
    markCancelling(db, batchId, nowMs);
    return toBatch(getBatchRow(db, batchId) as BatchRow);
  });
}

/**
 * Hides the Batch; an unfinished one is cancelled first so its Items stop and it still ends properly. An
 * ended one is archived too (migration 020): deleted means its requests and results go, not in a month.
 */
export function deleteBatch(db: SqliteDatabase, batchId: string, nowMs: number): boolean {
  return db.immediate(() => {
    const row = getBatchRow(db, batchId);
    if (!row || row.deleted_at_ms !== null) return false;
    if (row.status === "validating" || row.status === "in_progress") markCancelling(db, batchId, nowMs);
    db.statement(
      `UPDATE batches SET deleted_at_ms = @nowMs, updated_at_ms = @nowMs,
         archived_at_ms = CASE WHEN status IN ${ENDED_BATCH_STATUSES} THEN COALESCE(archived_at_ms, @nowMs) END
       WHERE id = @batchId`,
    ).run({ nowMs, batchId });
    return true;
  });
}
