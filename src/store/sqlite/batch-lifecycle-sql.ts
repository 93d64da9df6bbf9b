/**
 * The Sweeper's Batch transitions: validation and finalization Leases, start/fail after validation,
 * expiry, finalization, and retry of failed Items.
 *
 * A Batch Lease is free when `lease_owner` is null or `lease_expires_at_ms <= now`. A cancelling Batch can
 * still hold the validation Lease (it was cancelled while being validated): it is not finalized until that
 * validation ends (startBatch / failBatch release the Lease) or its Lease expires.
 */
import type { Batch, ItemResult, LineError } from "../../core/types.ts";
import type { BatchLeaseRequest, ClaimedBatch, FinalizeResult, FinalStatus, RetryFailedOptions, StartBatchParams } from "../store.ts";
import { retryableFailureSql } from "../shared/retryable-failures.ts";
import { arrangeItems } from "./arrangement-sql.ts";
import { takeCachedResults } from "./result-cache-sql.ts";
import { cancelUnstartedItems, getBatchRow } from "./batches-sql.ts";
import { CountDeltas } from "./counters.ts";
import type { SqliteDatabase } from "./database.ts";
import { deleteItems, insertItems } from "./items-sql.ts";
import { createFile, deleteFile } from "./files-sql.ts";
import { resultParams, RESULT_ASSIGNMENTS, toBatch, toClaimedBatch, type BatchRow } from "../shared/row-mappers.ts";
import { batchArchived, batchNotFound, batchNotRetryable } from "../shared/store-errors.ts";
import { archivedIfDeleted } from "../shared/batch-statuses-sql.ts";

const LEASE_FREE = "(lease_owner IS NULL OR lease_expires_at_ms <= @nowMs)";
const NO_RUNNING_ITEMS = "NOT EXISTS (SELECT 1 FROM items INDEXED BY items_running WHERE items.batch_id = batches.id AND items.status = 'running')";
const FINISHED_COUNT = "succeeded_items + failed_items + cancelled_items + expired_items";

/** The results writer Lease (decision 0061) is nobody's, expired, or @owner's (null matches no owner). */
const RESULTS_WRITER_FREE = "(results_writer IS NULL OR results_writer_until_ms <= @nowMs OR results_writer = @owner)";

/** Batches finalization may take now (binds @nowMs, @owner). Shared by findBatchesToFinalize and claimFinalization. */
const READY_TO_FINALIZE = `(
  (status = 'in_progress' AND ${FINISHED_COUNT} >= total_items AND ${RESULTS_WRITER_FREE})
  OR (status = 'cancelling' AND ${LEASE_FREE} AND ${NO_RUNNING_ITEMS})
  OR (status = 'finalizing' AND lease_expires_at_ms <= @nowMs))`;

/** An in_progress Batch that had Items expired ends "expired"; otherwise "completed". */
const FINAL_STATUS = `CASE status
  WHEN 'finalizing' THEN finalizing_as
  WHEN 'cancelling' THEN 'cancelled'
  WHEN 'in_progress' THEN CASE WHEN expired_items > 0 THEN 'expired' ELSE 'completed' END END`;

function leaseParams(request: BatchLeaseRequest): { owner: string; nowMs: number; leaseExpiresAtMs: number } {
  return { owner: request.owner, nowMs: request.nowMs, leaseExpiresAtMs: request.nowMs + request.leaseMs };
}

export function claimValidation(db: SqliteDatabase, request: BatchLeaseRequest): ClaimedBatch | null {
  const row = db.writeReturning<BatchRow>(
    `UPDATE batches SET lease_owner = @owner, lease_expires_at_ms = @leaseExpiresAtMs, updated_at_ms = @nowMs,
       validation_attempts = validation_attempts + 1
     WHERE seq = (SELECT seq FROM batches WHERE status = 'validating' AND ${LEASE_FREE} ORDER BY seq LIMIT 1)
     RETURNING *`,
    leaseParams(request),
  );
  return row ? toClaimedBatch(row) : null;
}

export function renewBatchLease(db: SqliteDatabase, batchId: string, request: BatchLeaseRequest): boolean {
  return (
    db
      .statement(
        `UPDATE batches SET lease_expires_at_ms = @leaseExpiresAtMs, updated_at_ms = @nowMs
         WHERE id = @batchId AND lease_owner = @owner AND status IN ('validating', 'cancelling', 'finalizing')`,
      )
      .run({ ...leaseParams(request), batchId }).changes > 0
  );
}

function heldRow(db: SqliteDatabase, batchId: string, owner: string): BatchRow | null {
  const row = getBatchRow(db, batchId);
  return row && row.lease_owner === owner && (row.status === "validating" || row.status === "cancelling") ? row : null;
}

export function startBatch(
  db: SqliteDatabase,
  batchId: string,
  params: StartBatchParams,
): Batch | null {
  return db.immediate(() => {
    const row = heldRow(db, batchId, params.owner);
    if (!row) return null;
    if (params.items !== undefined && params.items.length > 0) insertItems(db, batchId, params.items);
    const errorsJson = params.errors === null ? null : JSON.stringify(params.errors);
    if (row.status === "cancelling") {
      const counts = new CountDeltas();
      cancelUnstartedItems(db, batchId, params.nowMs, counts);
      counts.apply(db, params.nowMs);
    } else {
      if (params.resultCache !== undefined && params.resultCache.length > 0) {
        const counts = new CountDeltas();
        takeCachedResults(db, row, params.resultCache, params.nowMs, counts);
        counts.apply(db, params.nowMs);
      }
      // The Items are pending already (insertItems); the Batch's status below is what lets them be claimed.
      if (params.arrange) arrangeItems(db, batchId);
    }
    const updated = db
      .statement(
        `UPDATE batches SET
           status = CASE status WHEN 'validating' THEN 'in_progress' ELSE status END,
           in_progress_at_ms = CASE status WHEN 'validating' THEN @nowMs ELSE in_progress_at_ms END,
           total_items = @total, model = @model, errors_json = @errorsJson, lease_owner = NULL, lease_expires_at_ms = NULL, updated_at_ms = @nowMs
         WHERE id = @batchId RETURNING *`,
      )
      .get({ nowMs: params.nowMs, total: params.total, model: params.model, errorsJson, batchId }) as BatchRow;
    return toBatch(updated);
  });
}

/**
 * validating -> failed: every Item is deleted (a failed Batch reports its line errors, not results).
 * A Batch cancelled during validation stays cancelling and is finalized as cancelled instead.
 */
export function failBatch(db: SqliteDatabase, batchId: string, params: { owner: string; errors: LineError[]; nowMs: number }): Batch | null {
  return db.immediate(() => {
    const row = heldRow(db, batchId, params.owner);
    if (!row) return null;
    if (row.status === "cancelling") {
      const counts = new CountDeltas();
      cancelUnstartedItems(db, batchId, params.nowMs, counts);
      counts.apply(db, params.nowMs);
      const released = db
        .statement("UPDATE batches SET errors_json = ?, lease_owner = NULL, lease_expires_at_ms = NULL, updated_at_ms = ? WHERE id = ? RETURNING *")
        .get(JSON.stringify(params.errors), params.nowMs, batchId) as BatchRow;
      return toBatch(released);
    }
    deleteItems(db, batchId);
    const failed = db
      .statement(
        `UPDATE batches SET status = 'failed', failed_at_ms = @nowMs, updated_at_ms = @nowMs, errors_json = @errorsJson, ${archivedIfDeleted("@nowMs")},
           total_items = 0, succeeded_items = 0, failed_items = 0, cancelled_items = 0, expired_items = 0, input_tokens = 0, output_tokens = 0, charged_nano_usd = 0, charged_list_nano_usd = 0,
           lease_owner = NULL, lease_expires_at_ms = NULL
         WHERE id = @batchId RETURNING *`,
      )
      .get({ nowMs: params.nowMs, errorsJson: JSON.stringify(params.errors), batchId }) as BatchRow;
    return toBatch(failed);
  });
}

/**
 * Pending Items of in_progress Batches past their window become expired, one IMMEDIATE transaction per
 * Batch. Running Items finish; the Batch is then finalized as "expired". Items are updated one by one
 * so that only those still pending are counted; this happens once per Batch, off the hot path.
 */
export function expireBatches(db: SqliteDatabase, nowMs: number, result: ItemResult): string[] {
  const due = db.statement("SELECT id FROM batches WHERE status = 'in_progress' AND expires_at_ms <= ? ORDER BY seq").all(nowMs) as { id: string }[];
  const pending = db.statement("SELECT idx FROM items WHERE batch_id = ? AND status = 'pending' ORDER BY idx");
  const expire = db.statement(`UPDATE items SET status = 'expired', ${RESULT_ASSIGNMENTS} WHERE batch_id = ? AND idx = ? AND status = 'pending'`);
  const expired: string[] = [];
  for (const { id } of due) {
    const changed = db.immediate(() => {
      const counts = new CountDeltas();
      for (const { idx } of pending.all(id) as { idx: number }[]) {
        const itemResult = result;
        if (expire.run(...resultParams(itemResult), id, idx).changes > 0) counts.add(id, "expired", 1, itemResult.usage);
      }
      const any = counts.batchIds.length > 0;
      counts.apply(db, nowMs);
      return any;
    });
    if (changed) expired.push(id);
  }
  return expired;
}

export function findBatchesToFinalize(db: SqliteDatabase, nowMs: number, limit: number, batchIds?: readonly string[], owner: string | null = null): { batchId: string; status: FinalStatus }[] {
  if (batchIds !== undefined && batchIds.length === 0) return [];
  // Among `batchIds`: one lookup by id each, however many Batches are live. CROSS JOIN keeps the list as the
  // outer loop: with `id IN (...)` the planner walked the status index over every live Batch instead.
  const from = batchIds === undefined ? "batches" : "json_each(@ids) AS listed CROSS JOIN batches ON batches.id = listed.value";
  const rows = db
    .statement(`SELECT batches.id AS id, ${FINAL_STATUS} AS final_status FROM ${from} WHERE status IN ('in_progress', 'cancelling', 'finalizing') AND ${READY_TO_FINALIZE} ORDER BY seq LIMIT @limit`)
    .all(batchIds === undefined ? { nowMs, limit, owner } : { nowMs, limit, owner, ids: JSON.stringify(batchIds) }) as { id: string; final_status: FinalStatus }[];
  return rows.map((row) => ({ batchId: row.id, status: row.final_status }));
}

/**
 * Takes the finalization Lease if the Batch is (still) ready. A cancelling Batch left with unstarted Items
 * (its validation died after the cancel) has them cancelled here, so finalization sees only finished Items.
 */
export function claimFinalization(db: SqliteDatabase, batchId: string, request: BatchLeaseRequest): Batch | null {
  return db.immediate(() => {
    const row = db
      .statement(
        `UPDATE batches SET
           finalizing_as = ${FINAL_STATUS},
           finalizing_at_ms = CASE status WHEN 'finalizing' THEN finalizing_at_ms ELSE @nowMs END,
           status = 'finalizing', lease_owner = @owner, lease_expires_at_ms = @leaseExpiresAtMs, updated_at_ms = @nowMs,
           results_writer = NULL, results_writer_until_ms = NULL
         WHERE id = @batchId AND ${READY_TO_FINALIZE}
         RETURNING *`,
      )
      .get({ ...leaseParams(request), batchId }) as BatchRow | undefined;
    if (!row) return null;
    if (row.finalizing_as !== "cancelled") return toBatch(row);
    const counts = new CountDeltas();
    cancelUnstartedItems(db, batchId, request.nowMs, counts);
    counts.apply(db, request.nowMs);
    return toBatch(getBatchRow(db, batchId) as BatchRow);
  });
}

export function takeResultsWriter(db: SqliteDatabase, batchId: string, request: BatchLeaseRequest): boolean {
  return (
    db
      .statement(
        `UPDATE batches SET results_writer = @owner, results_writer_until_ms = @leaseExpiresAtMs
         WHERE id = @batchId AND status = 'in_progress' AND ${RESULTS_WRITER_FREE}`,
      )
      .run({ ...leaseParams(request), batchId }).changes === 1
  );
}

export function releaseResultsWriter(db: SqliteDatabase, batchId: string, owner: string): void {
  db.statement("UPDATE batches SET results_writer = NULL, results_writer_until_ms = NULL WHERE id = @batchId AND results_writer = @owner").run({ batchId, owner });
}

const FINISHED_AT_COLUMN: Record<FinalStatus, string> = { completed: "completed_at_ms", expired: "expired_at_ms", cancelled: "cancelled_at_ms" };

export function finishBatch(db: SqliteDatabase, batchId: string, owner: string, result: FinalizeResult): Batch | null {
  const files = result.files ?? [];
  if (files.length === 0) return finishFenced(db, batchId, owner, result);
  return db.immediate(() => {
    for (const file of files) {
      deleteFile(db, file.id);
      createFile(db, file);
    }
    return finishFenced(db, batchId, owner, result);
  });
}

function finishFenced(db: SqliteDatabase, batchId: string, owner: string, result: FinalizeResult): Batch | null {
  const row = db.writeReturning<BatchRow>(
    `UPDATE batches SET status = @status, ${FINISHED_AT_COLUMN[result.status]} = @nowMs, updated_at_ms = @nowMs, ${archivedIfDeleted("@nowMs")},
       output_file_id = @outputFileId, error_file_id = @errorFileId, lease_owner = NULL, lease_expires_at_ms = NULL
     WHERE id = @batchId AND status = 'finalizing' AND lease_owner = @owner
     RETURNING *`,
    { status: result.status, nowMs: result.nowMs, outputFileId: result.outputFileId, errorFileId: result.errorFileId, batchId, owner },
  );
  return row ? toBatch(row) : null;
}

/**
 * Failed Items of a finished Batch run again into the same results (by default only the failures another try
 * can fix: shared/retryable-failures.ts). Only Items that ran (attempts > 0):
 * bad input lines of a "skip" Batch are failed too but have nothing to send. The Batch gets a fresh
 * completion window of its original length, or the expiry would strike again at once. Attempts keep
 * counting (the fence needs them never to repeat); usage keeps what the failed tries consumed. The result
 * file ids stay as they are: clients keep reading the previous results until finalization replaces them
 * under the same ids (finalize-batch.ts).
 */
export function retryFailedItems(db: SqliteDatabase, batchId: string, nowMs: number, options: RetryFailedOptions = {}): Batch {
  return db.immediate(() => {
    const row = getBatchRow(db, batchId);
    if (!row || row.deleted_at_ms !== null) throw batchNotFound(batchId);
    if (row.archived_at_ms !== null) throw batchArchived(batchId, row.archived_at_ms);
    if (row.status !== "completed" && row.status !== "expired" && row.status !== "cancelled") {
      throw batchNotRetryable(batchId, `it is ${row.status.replace("_", " ")}, and only completed, expired or cancelled batches can be retried`);
    }
    // A failed follower took its leader's failure (it never ran itself): it waits for the leader again.
    const rows = db
      .statement(
        `UPDATE items SET status = 'pending', status_code = NULL, body = NULL, error_code = NULL, error_message = NULL, request_id = NULL,
           input_tokens = 0, output_tokens = 0, finished_at_ms = NULL
         WHERE batch_id = ? AND status = 'failed' AND (attempts > 0 OR leader_idx IS NOT NULL) AND ${retryableFailureSql(options)}
         RETURNING leader_idx`,
      )
      .all(batchId) as { leader_idx: number | null }[];
    const retried = rows.length;
    const followers = rows.filter((item) => item.leader_idx !== null).length;
    if (retried === followers) throw batchNotRetryable(batchId, options.all === true ? "it has no failed requests that ran" : "none of its failed requests can succeed on another try (rate limits, timeouts, 5xx, cancelled or expired); pass all to retry every failed request");
    const updated = db
      .statement(
        `UPDATE batches SET status = 'in_progress', failed_items = failed_items - @retried, reused_items = reused_items - @followers, updated_at_ms = @nowMs,
           expires_at_ms = @nowMs + (expires_at_ms - created_at_ms),
           finalizing_as = NULL, finalizing_at_ms = NULL,
           completed_at_ms = NULL, expired_at_ms = NULL, cancelling_at_ms = NULL, cancelled_at_ms = NULL
         WHERE id = @batchId RETURNING *`,
      )
      .get({ retried, followers, nowMs, batchId }) as BatchRow;
    return toBatch(updated);
  });
}
