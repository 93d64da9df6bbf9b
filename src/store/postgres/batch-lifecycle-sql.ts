/**
 * The Sweeper's Batch transitions: validation and finalization Leases, start/fail after validation,
 * expiry, finalization, and retry of failed Items. Same rules as the SQLite Store (see
 * src/store/sqlite/batch-lifecycle-sql.ts); what differs is how they stay true with many processes:
 * multi-statement transitions lock the Batch row first (batches-sql.ts explains the lock order), and
 * single-statement ones are guarded UPDATEs that PostgreSQL re-checks against the latest row version.
 *
 * A Batch Lease is free when `lease_owner` is null or `lease_expires_at_ms <= now`. A cancelling Batch can
 * still hold the validation Lease (it was cancelled while being validated): it is not finalized until that
 * validation ends (startBatch / failBatch release the Lease) or its Lease expires.
 */
import type { Batch, ItemResult, LineError } from "../../core/types.ts";
import { toBatch, toClaimedBatch, type BatchRow } from "../shared/row-mappers.ts";
import { batchArchived, batchNotFound, batchNotRetryable } from "../shared/store-errors.ts";
import type { BatchLeaseRequest, ClaimedBatch, FinalizeResult, FinalStatus, RetryFailedOptions, StartBatchParams } from "../store.ts";
import { retryableFailureSql } from "../shared/retryable-failures.ts";
import { arrangeItems } from "./arrangement-sql.ts";
import { takeCachedResults } from "./result-cache-sql.ts";
import { cancelUnstartedItems, lockBatchRow } from "./batches-sql.ts";
import { registerFilesCte } from "./files-sql.ts";
import { deleteItems, insertItemsWith } from "./items-sql.ts";
import type { PostgresDatabase, Queryable } from "./database.ts";
import { archivedIfDeleted } from "../shared/batch-statuses-sql.ts";

const LEASE_FREE = "(lease_owner IS NULL OR lease_expires_at_ms <= $1)";
const NO_RUNNING_ITEMS = "NOT EXISTS (SELECT 1 FROM items WHERE items.batch_id = batches.id AND items.status = 'running')";
const FINISHED_COUNT = "succeeded_items + failed_items + cancelled_items + expired_items";

/** The results writer Lease (decision 0061) is nobody's, expired ($1 is nowMs), or `owner`'s. */
const resultsWriterFree = (owner: string): string => `(results_writer IS NULL OR results_writer_until_ms <= $1 OR results_writer = ${owner})`;

/**
 * Batches finalization may take now; $1 is nowMs, `owner` the placeholder of the asking owner (null matches
 * no owner): an in_progress Batch whose results writer Lease (decision 0061) is live is its holder's.
 * Shared by findBatchesToFinalize and claimFinalization.
 */
const readyToFinalize = (owner: string): string => `(
  (status = 'in_progress' AND ${FINISHED_COUNT} >= total_items AND ${resultsWriterFree(owner)})
  OR (status = 'cancelling' AND ${LEASE_FREE} AND ${NO_RUNNING_ITEMS})
  OR (status = 'finalizing' AND lease_expires_at_ms <= $1))`;

/** An in_progress Batch that had Items expired ends "expired"; otherwise "completed". */
const FINAL_STATUS = `CASE status
  WHEN 'finalizing' THEN finalizing_as
  WHEN 'cancelling' THEN 'cancelled'
  WHEN 'in_progress' THEN CASE WHEN expired_items > 0 THEN 'expired' ELSE 'completed' END END`;

/**
 * Takes the oldest validating Batch whose Lease is free. SKIP LOCKED for the same reason as the Item claim:
 * two Sweepers asking at once take two different Batches instead of queueing on the first.
 */
export async function claimValidation(db: PostgresDatabase, request: BatchLeaseRequest): Promise<ClaimedBatch | null> {
  const { rows } = await db.query<BatchRow>(
    `UPDATE batches SET lease_owner = $2, lease_expires_at_ms = $3, updated_at_ms = $1, validation_attempts = validation_attempts + 1
     WHERE seq = (SELECT seq FROM batches WHERE status = 'validating' AND ${LEASE_FREE} ORDER BY seq LIMIT 1 FOR UPDATE SKIP LOCKED)
       AND status = 'validating' AND ${LEASE_FREE}
     RETURNING *`,
    [request.nowMs, request.owner, request.nowMs + request.leaseMs],
  );
  return rows[0] ? toClaimedBatch(rows[0]) : null;
}

export async function renewBatchLease(db: PostgresDatabase, batchId: string, request: BatchLeaseRequest): Promise<boolean> {
  const { rowCount } = await db.query(
    `UPDATE batches SET lease_expires_at_ms = $1, updated_at_ms = $2
     WHERE id = $3 AND lease_owner = $4 AND status IN ('validating', 'cancelling', 'finalizing')`,
    [request.nowMs + request.leaseMs, request.nowMs, batchId, request.owner],
  );
  return (rowCount ?? 0) > 0;
}

async function lockHeldRow(client: Queryable, batchId: string, owner: string): Promise<BatchRow | null> {
  const row = await lockBatchRow(client, batchId);
  return row && row.lease_owner === owner && (row.status === "validating" || row.status === "cancelling") ? row : null;
}

export async function startBatch(
  db: PostgresDatabase,
  batchId: string,
  params: StartBatchParams,
): Promise<Batch | null> {
  return db.transaction(async (client) => {
    const row = await lockHeldRow(client, batchId, params.owner);
    if (!row) return null;
    if (params.items !== undefined && params.items.length > 0) await insertItemsWith(client, batchId, params.items);
    if (row.status === "cancelling") {
      await cancelUnstartedItems(client, batchId, params.nowMs);
    } else {
      if (params.resultCache !== undefined && params.resultCache.length > 0) await takeCachedResults(client, row, params.resultCache, params.nowMs);
      // The Items are pending already (insertItems); the Batch's status below is what lets them be claimed.
      if (params.arrange) await arrangeItems(client, batchId);
    }
    const { rows } = await client.query<BatchRow>(
      `UPDATE batches SET
         status = CASE status WHEN 'validating' THEN 'in_progress' ELSE status END,
         in_progress_at_ms = CASE status WHEN 'validating' THEN $1 ELSE in_progress_at_ms END,
         total_items = $2, model = $3, errors_json = $4, lease_owner = NULL, lease_expires_at_ms = NULL, updated_at_ms = $1
       WHERE id = $5 RETURNING *`,
      [params.nowMs, params.total, params.model, params.errors === null ? null : JSON.stringify(params.errors), batchId],
    );
    return toBatch(rows[0] as BatchRow);
  });
}

/**
 * validating -> failed: every Item is deleted (a failed Batch reports its line errors, not results).
 * A Batch cancelled during validation stays cancelling and is finalized as cancelled instead.
 */
export async function failBatch(db: PostgresDatabase, batchId: string, params: { owner: string; errors: LineError[]; nowMs: number }): Promise<Batch | null> {
  return db.transaction(async (client) => {
    const row = await lockHeldRow(client, batchId, params.owner);
    if (!row) return null;
    const errorsJson = JSON.stringify(params.errors);
    if (row.status === "cancelling") {
      await cancelUnstartedItems(client, batchId, params.nowMs);
      const { rows } = await client.query<BatchRow>(
        "UPDATE batches SET errors_json = $1, lease_owner = NULL, lease_expires_at_ms = NULL, updated_at_ms = $2 WHERE id = $3 RETURNING *",
        [errorsJson, params.nowMs, batchId],
      );
      return toBatch(rows[0] as BatchRow);
    }
    await deleteItems(client, batchId);
    const { rows } = await client.query<BatchRow>(
      `UPDATE batches SET status = 'failed', failed_at_ms = $1, updated_at_ms = $1, errors_json = $2, ${archivedIfDeleted("$1")},
         total_items = 0, succeeded_items = 0, failed_items = 0, cancelled_items = 0, expired_items = 0, input_tokens = 0, output_tokens = 0, charged_nano_usd = 0, charged_list_nano_usd = 0,
         lease_owner = NULL, lease_expires_at_ms = NULL
       WHERE id = $3 RETURNING *`,
      [params.nowMs, errorsJson, batchId],
    );
    return toBatch(rows[0] as BatchRow);
  });
}

/** Items expired per statement: one array per result column, so a 200k-Item Batch takes ~20 statements. */
const EXPIRE_CHUNK = 10_000;

/**
 * Pending Items of in_progress Batches past their window become expired, one transaction per Batch (its
 * row locked, so a concurrent retry or cancel waits). Running Items finish; the Batch is then finalized as
 * "expired". The Items' keys are read and the result written back in chunks of arrays; this happens
 * once per Batch, off the hot path. An Item claimed between the read
 * and the write fails the `status = 'pending'` guard and is neither expired nor counted.
 */
export async function expireBatches(db: PostgresDatabase, nowMs: number, result: ItemResult): Promise<string[]> {
  const due = await db.query<{ id: string }>("SELECT id FROM batches WHERE status = 'in_progress' AND expires_at_ms <= $1 ORDER BY seq", [nowMs]);
  const expired: string[] = [];
  for (const { id } of due.rows) {
    const changed = await db.transaction(async (client) => {
      const row = await lockBatchRow(client, id);
      if (!row || row.status !== "in_progress" || row.expires_at_ms > nowMs) return false;
      const pending = await client.query<{ idx: number }>("SELECT idx FROM items WHERE batch_id = $1 AND status = 'pending' ORDER BY idx", [id]);
      let count = 0;
      let inputTokens = 0;
      let outputTokens = 0;
      for (let start = 0; start < pending.rows.length; start += EXPIRE_CHUNK) {
        const chunk = pending.rows.slice(start, start + EXPIRE_CHUNK).map(({ idx }) => ({ idx, result }));
        const applied = await expireChunk(client, id, chunk);
        count += applied.length;
        for (const row of applied) {
          inputTokens += row.input_tokens;
          outputTokens += row.output_tokens;
        }
      }
      if (count === 0) return false;
      await client.query(
        `UPDATE batches SET expired_items = expired_items + $2, input_tokens = input_tokens + $3, output_tokens = output_tokens + $4, updated_at_ms = $5
         WHERE id = $1`,
        [id, count, inputTokens, outputTokens, nowMs],
      );
      return true;
    });
    if (changed) expired.push(id);
  }
  return expired;
}

async function expireChunk(client: Queryable, batchId: string, chunk: readonly { idx: number; result: ItemResult }[]): Promise<{ input_tokens: number; output_tokens: number }[]> {
  const column = <T>(pick: (result: ItemResult) => T): T[] => chunk.map((entry) => pick(entry.result));
  const { rows } = await client.query<{ input_tokens: number; output_tokens: number }>(
    `UPDATE items i SET status = 'expired', status_code = r.status_code, body = r.body, error_code = r.error_code,
       error_message = r.error_message, request_id = r.request_id, input_tokens = r.input_tokens,
       output_tokens = r.output_tokens, finished_at_ms = r.finished_at_ms
     FROM unnest($2::int[], $3::int[], $4::text[], $5::text[], $6::text[], $7::text[], $8::bigint[], $9::bigint[], $10::bigint[])
       AS r (idx, status_code, body, error_code, error_message, request_id, input_tokens, output_tokens, finished_at_ms)
     WHERE i.batch_id = $1 AND i.idx = r.idx AND i.status = 'pending'
     RETURNING i.input_tokens, i.output_tokens`,
    [
      batchId,
      chunk.map((entry) => entry.idx),
      column((r) => r.statusCode),
      column((r) => r.body),
      column((r) => r.errorCode),
      column((r) => r.errorMessage),
      column((r) => r.requestId),
      column((r) => r.usage.inputTokens),
      column((r) => r.usage.outputTokens),
      column((r) => r.finishedAtMs),
    ],
  );
  return rows;
}

export async function findBatchesToFinalize(db: PostgresDatabase, nowMs: number, limit: number, batchIds?: readonly string[], owner: string | null = null): Promise<{ batchId: string; status: FinalStatus }[]> {
  if (batchIds !== undefined && batchIds.length === 0) return [];
  // Among `batchIds`: a lookup by primary key each, however many Batches are live.
  const among = batchIds === undefined ? "" : "id = ANY($4::text[]) AND";
  const { rows } = await db.query<{ id: string; final_status: FinalStatus }>(
    `SELECT id, ${FINAL_STATUS} AS final_status FROM batches
     WHERE ${among} status IN ('in_progress', 'cancelling', 'finalizing') AND ${readyToFinalize("$3::text")}
     ORDER BY seq LIMIT $2`,
    batchIds === undefined ? [nowMs, limit, owner] : [nowMs, limit, owner, batchIds],
  );
  return rows.map((row) => ({ batchId: row.id, status: row.final_status }));
}

/**
 * Takes the finalization Lease if the Batch is (still) ready: one guarded UPDATE, re-checked by
 * PostgreSQL against the latest row if another process changed it meanwhile, so only one process wins.
 * A cancelling Batch left with unstarted Items (its validation died after the cancel) has them cancelled
 * here, so finalization sees only finished Items.
 */
export async function claimFinalization(db: PostgresDatabase, batchId: string, request: BatchLeaseRequest): Promise<Batch | null> {
  return db.transaction(async (client) => {
    const { rows } = await client.query<BatchRow>(
      `UPDATE batches SET
         finalizing_as = ${FINAL_STATUS},
         finalizing_at_ms = CASE status WHEN 'finalizing' THEN finalizing_at_ms ELSE $1 END,
         status = 'finalizing', lease_owner = $2, lease_expires_at_ms = $3, updated_at_ms = $1,
         results_writer = NULL, results_writer_until_ms = NULL
       WHERE id = $4 AND ${readyToFinalize("$2")}
       RETURNING *`,
      [request.nowMs, request.owner, request.nowMs + request.leaseMs, batchId],
    );
    const row = rows[0];
    if (!row) return null;
    if (row.finalizing_as !== "cancelled") return toBatch(row);
    await cancelUnstartedItems(client, batchId, request.nowMs);
    const { rows: after } = await client.query<BatchRow>("SELECT * FROM batches WHERE id = $1", [batchId]);
    return toBatch(after[0] as BatchRow);
  });
}

export async function takeResultsWriter(db: PostgresDatabase, batchId: string, request: BatchLeaseRequest): Promise<boolean> {
  const { rowCount } = await db.query(
    `UPDATE batches SET results_writer = $2, results_writer_until_ms = $3
     WHERE id = $4 AND status = 'in_progress' AND ${resultsWriterFree("$2")}`,
    [request.nowMs, request.owner, request.nowMs + request.leaseMs, batchId],
  );
  return rowCount === 1;
}

export async function releaseResultsWriter(db: PostgresDatabase, batchId: string, owner: string): Promise<void> {
  await db.query("UPDATE batches SET results_writer = NULL, results_writer_until_ms = NULL WHERE id = $1 AND results_writer = $2", [batchId, owner]);
}

const FINISHED_AT_COLUMN: Record<FinalStatus, string> = { completed: "completed_at_ms", expired: "expired_at_ms", cancelled: "cancelled_at_ms" };

export async function finishBatch(db: PostgresDatabase, batchId: string, owner: string, result: FinalizeResult): Promise<Batch | null> {
  // The files' records go in with the same statement (one round trip, one transaction); the CTE runs
  // whether or not the fenced UPDATE matches, as separate createFile calls before it did.
  const files = result.files !== undefined && result.files.length > 0 ? registerFilesCte(result.files, 7) : null;
  const { rows } = await db.query<BatchRow>(
    `${files === null ? "" : `WITH ${files.sql} `}UPDATE batches SET status = $1, ${FINISHED_AT_COLUMN[result.status]} = $2, updated_at_ms = $2, ${archivedIfDeleted("$2")}, output_file_id = $3, error_file_id = $4,
       lease_owner = NULL, lease_expires_at_ms = NULL
     WHERE id = $5 AND status = 'finalizing' AND lease_owner = $6
     RETURNING *`,
    [result.status, result.nowMs, result.outputFileId, result.errorFileId, batchId, owner, ...(files?.params ?? [])],
  );
  return rows[0] ? toBatch(rows[0]) : null;
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
export async function retryFailedItems(db: PostgresDatabase, batchId: string, nowMs: number, options: RetryFailedOptions = {}): Promise<Batch> {
  return db.transaction(async (client) => {
    const row = await lockBatchRow(client, batchId);
    if (!row || row.deleted_at_ms !== null) throw batchNotFound(batchId);
    if (row.archived_at_ms !== null) throw batchArchived(batchId, row.archived_at_ms);
    if (row.status !== "completed" && row.status !== "expired" && row.status !== "cancelled") {
      throw batchNotRetryable(batchId, `it is ${row.status.replace("_", " ")}, and only completed, expired or cancelled batches can be retried`);
    }
    // A failed follower took its leader's failure (it never ran itself): it waits for the leader again.
    const { rows: reset } = await client.query<{ leader_idx: number | null }>(
      `UPDATE items SET status = 'pending', status_code = NULL, body = NULL, error_code = NULL, error_message = NULL, request_id = NULL,
         input_tokens = 0, output_tokens = 0, finished_at_ms = NULL
       WHERE batch_id = $1 AND status = 'failed' AND (attempts > 0 OR leader_idx IS NOT NULL) AND ${retryableFailureSql(options)}
       RETURNING leader_idx`,
      [batchId],
    );
    const retried = reset.length;
    const followers = reset.filter((item) => item.leader_idx !== null).length;
    if (retried === followers) throw batchNotRetryable(batchId, options.all === true ? "it has no failed requests that ran" : "none of its failed requests can succeed on another try (rate limits, timeouts, 5xx, cancelled or expired); pass all to retry every failed request");
    const { rows } = await client.query<BatchRow>(
      `UPDATE batches SET status = 'in_progress', failed_items = failed_items - $1, reused_items = reused_items - $4, updated_at_ms = $2,
         expires_at_ms = $2 + (expires_at_ms - created_at_ms),
         finalizing_as = NULL, finalizing_at_ms = NULL,
         completed_at_ms = NULL, expired_at_ms = NULL, cancelling_at_ms = NULL, cancelled_at_ms = NULL
       WHERE id = $3 RETURNING *`,
      [retried, nowMs, batchId, followers],
    );
    return toBatch(rows[0] as BatchRow);
  });
}
