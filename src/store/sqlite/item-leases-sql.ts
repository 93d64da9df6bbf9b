/**
 * Item Leases: renewal by heartbeat, release on graceful shutdown, and the Sweeper's recovery of Items
 * whose Worker stopped. These scan only the `items_running` partial index (running Items are few).
 *
 * An Item taken back from a Worker returns to pending only while its Batch is in_progress; in a Batch that
 * is cancelling (or anything else) it becomes cancelled instead, keeping the invariant the claim relies on:
 * pending Items exist only in in_progress Batches.
 *
 * Attempts are never given back (not even on a graceful release): (owner, attempt) must never repeat for
 * an Item, or a late completion from a previous claim could pass the fence.
 */
import { cancelledResult } from "../../core/batch-format.ts";
import type { ItemResult } from "../../core/types.ts";
import { copyToFollowers } from "./arrangement-sql.ts";
import { CountDeltas } from "./counters.ts";
import type { SqliteDatabase } from "./database.ts";
import { resultParams, RESULT_ASSIGNMENTS } from "../shared/row-mappers.ts";

const CLEAR_LEASE = "lease_owner = NULL, lease_expires_at_ms = NULL";

export function renewItemLeases(db: SqliteDatabase, owner: string, nowMs: number, leaseMs: number, items?: readonly { batchId: string; index: number }[]): number {
  if (items === undefined) {
    return db
      .statement("UPDATE items INDEXED BY items_running SET lease_expires_at_ms = ? WHERE status = 'running' AND lease_owner = ?")
      .run(nowMs + leaseMs, owner).changes;
  }
  if (items.length === 0) return 0;
  return db
    .statement(
      `UPDATE items INDEXED BY items_running SET lease_expires_at_ms = ?
       WHERE status = 'running' AND lease_owner = ?
         AND (batch_id, idx) IN (SELECT json_extract(value, '$[0]'), json_extract(value, '$[1]') FROM json_each(?))`,
    )
    .run(nowMs + leaseMs, owner, JSON.stringify(items.map((item) => [item.batchId, item.index]))).changes;
}

/**
 * The Item's Batch no longer runs (cancelling, finalizing, ended), looked up by the Batch's key for each
 * running Item the statement considers. Written as `batch_id IN (SELECT id FROM batches WHERE status <>
 * 'in_progress')`, SQLite first built a list of every Batch not running, all those ever finished included,
 * whenever one expired Lease was found.
 */
const BATCH_NOT_RUNNING = "EXISTS (SELECT 1 FROM batches WHERE batches.id = items.batch_id AND batches.status <> 'in_progress')";

/**
 * Graceful shutdown. The contract passes no time, so an Item of a Batch that is no longer in_progress is not
 * cancelled here: its Lease is ended (owner cleared, expiry set in the past) and the Sweeper's next
 * reclaimExpiredItems cancels it with a proper timestamp. Those count as released.
 */
export function releaseItems(db: SqliteDatabase, owner: string, items: readonly { batchId: string; index: number }[] | undefined): number {
  const endLease = db.statement(
    `UPDATE items INDEXED BY items_running SET lease_owner = NULL, lease_expires_at_ms = 0
     WHERE status = 'running' AND lease_owner = @owner AND (@batchId IS NULL OR (batch_id = @batchId AND idx = @index))
       AND ${BATCH_NOT_RUNNING}`,
  );
  const requeue = db.statement(
    `UPDATE items INDEXED BY items_running SET status = 'pending', ${CLEAR_LEASE}
     WHERE status = 'running' AND lease_owner = @owner AND (@batchId IS NULL OR (batch_id = @batchId AND idx = @index))`,
  );
  const selections = items === undefined ? [{ batchId: null, index: null }] : items;
  return db.immediate(() => {
    let released = 0;
    for (const item of selections) {
      const params = { owner, batchId: item.batchId, index: item.index };
      released += endLease.run(params).changes;
      released += requeue.run(params).changes;
    }
    return released;
  });
}

export function reclaimExpiredItems(db: SqliteDatabase, nowMs: number): number {
  return db.immediate(() => {
    const cancelled = db
      .statement(
        `UPDATE items INDEXED BY items_running SET status = 'cancelled', ${RESULT_ASSIGNMENTS}, ${CLEAR_LEASE}
         WHERE status = 'running' AND lease_expires_at_ms <= ?
           AND ${BATCH_NOT_RUNNING}
         RETURNING batch_id`,
      )
      .all(...resultParams(cancelledResult(nowMs)), nowMs) as { batch_id: string }[];
    const counts = new CountDeltas();
    for (const row of cancelled) counts.add(row.batch_id, "cancelled");
    counts.apply(db, nowMs);
    const returned = db
      .statement(`UPDATE items INDEXED BY items_running SET status = 'pending', ${CLEAR_LEASE} WHERE status = 'running' AND lease_expires_at_ms <= ?`)
      .run(nowMs).changes;
    return cancelled.length + returned;
  });
}

/**
 * Items whose Lease expired after their last allowed Attempt end failed instead of going back to the queue.
 * Only in in_progress Batches: in a cancelling one reclaimExpiredItems cancels them. Their followers fail
 * with them (a follower never ends without a result).
 */
export function failExhaustedItems(db: SqliteDatabase, maxAttempts: number, nowMs: number, result: ItemResult): number {
  return db.immediate(() => {
    const rows = db
      .statement(
        `UPDATE items INDEXED BY items_running SET status = 'failed', ${RESULT_ASSIGNMENTS}, ${CLEAR_LEASE}
         WHERE status = 'running' AND lease_expires_at_ms <= ? AND attempts >= ?
           AND batch_id IN (SELECT id FROM batches WHERE status = 'in_progress')
         RETURNING batch_id, idx, follower_count`,
      )
      .all(...resultParams(result), nowMs, maxAttempts) as { batch_id: string; idx: number; follower_count: number }[];
    const counts = new CountDeltas();
    for (const row of rows) {
      counts.add(row.batch_id, "failed", 1, result.usage);
      if (row.follower_count > 0) copyToFollowers(db, { batchId: row.batch_id, index: row.idx }, "failed", result, counts);
    }
    counts.apply(db, nowMs);
    return rows.length;
  });
}
