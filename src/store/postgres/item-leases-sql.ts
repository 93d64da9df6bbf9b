/**
 * Item Leases: renewal by heartbeat, release on graceful shutdown, and the Sweeper's recovery of Items
 * whose Worker stopped. These read only the `items_running` partial indexes (running Items are few).
 *
 * An Item taken back from a Worker returns to pending only while its Batch is in_progress; in a Batch that
 * is cancelling (or anything else) it becomes cancelled instead, keeping the invariant the claim relies on:
 * pending Items exist only in in_progress Batches. To make "its Batch is in_progress" still true when the
 * Item changes, each operation first locks the Batch rows involved (in id order), as every transaction
 * that changes a Batch's status does; a concurrent cancel of the same Batch waits for us, or we for it.
 *
 * Attempts are never given back (not even on a graceful release): (owner, attempt) must never repeat for
 * an Item, or a late completion from a previous claim could pass the fence.
 */
import { cancelledResult } from "../../core/batch-format.ts";
import type { ItemResult } from "../../core/types.ts";
import type { PostgresDatabase, Queryable } from "./database.ts";
import { copyToFollowers } from "./arrangement-sql.ts";
import { CLEAR_LEASE, CountDeltas, lockBatches, resultAssignments, resultValues, withoutBitmapScans } from "./sql-fragments.ts";

export async function renewItemLeases(db: PostgresDatabase, owner: string, nowMs: number, leaseMs: number, items?: readonly { batchId: string; index: number }[]): Promise<number> {
  if (items === undefined) {
    const { rowCount } = await db.query("UPDATE items SET lease_expires_at_ms = $1 WHERE status = 'running' AND lease_owner = $2", [nowMs + leaseMs, owner]);
    return rowCount ?? 0;
  }
  if (items.length === 0) return 0;
  const { rowCount } = await db.prepared("spool_renew_held", RENEW_HELD_SQL, [nowMs + leaseMs, owner, items.map((item) => item.batchId), items.map((item) => item.index)]);
  return rowCount ?? 0;
}

/**
 * The heartbeat for the Items a Worker holds, found by primary key. Two choices, both measured on a 100k-Item
 * run (decision 0037):
 * - Rows another transaction has locked are skipped (SKIP LOCKED), not waited for. The one that locks them
 *   is this Worker's own completion of those very Items (claims skip locked rows; cancels and sweeps lock
 *   the Batch row first): waiting for it deadlocked now and then, as the two lock the same rows in different
 *   orders, and each deadlock stalled both for deadlock_timeout (1 s). A skipped Item is either finished
 *   by that completion or renewed by the next beat, well within its Lease.
 * - The fence is compared with IS NOT DISTINCT FROM (the same as `=` here: neither side is NULL) so that
 *   no index can serve it. With `status = 'running'` written plainly, the planner reads the partial
 *   indexes on running Items, which hold an entry for every Item that ran since the last vacuum (bitmap
 *   scans never mark entries dead): 380 ms per beat late in the run, against a primary-key lookup per Item.
 */
const RENEW_HELD_SQL = `
  WITH held AS (
    SELECT i.batch_id, i.idx FROM items i JOIN unnest($3::text[], $4::int[]) AS u (batch_id, idx) ON i.batch_id = u.batch_id AND i.idx = u.idx
    WHERE (i.status, i.lease_owner) IS NOT DISTINCT FROM ('running', $2::text)
    FOR UPDATE OF i SKIP LOCKED)
  UPDATE items i SET lease_expires_at_ms = $1 FROM held WHERE i.batch_id = held.batch_id AND i.idx = held.idx`;

/**
 * Locks the Batches of the running Items matching `where` and splits them by whether they are in_progress.
 *
 * Also turns bitmap scans off for the rest of the transaction (withoutBitmapScans; its statements all read
 * running Items): with them, each recovery pass late in a 100k-Item run visited 97,000 index entries and
 * 13,000 table pages to find 128 running Items, 15 ms, twice per pass.
 */
async function lockBatchesOfRunningItems(client: Queryable, where: string, values: unknown[]): Promise<{ inProgress: string[]; other: string[] }> {
  await withoutBitmapScans(client);
  const { rows } = await client.query<{ batch_id: string }>(`SELECT DISTINCT batch_id FROM items WHERE status = 'running' AND ${where}`, values);
  const statuses = await lockBatches(
    client,
    rows.map((row) => row.batch_id),
  );
  const inProgress: string[] = [];
  const other: string[] = [];
  for (const [id, status] of statuses) (status === "in_progress" ? inProgress : other).push(id);
  return { inProgress, other };
}

/**
 * Graceful shutdown. The contract passes no time, so an Item of a Batch that is no longer in_progress is not
 * cancelled here: its Lease is ended (owner cleared, expiry set in the past) and the Sweeper's next
 * reclaimExpiredItems cancels it with a proper timestamp. Those count as released.
 */
export async function releaseItems(db: PostgresDatabase, owner: string, items: readonly { batchId: string; index: number }[] | undefined): Promise<number> {
  const selected = `lease_owner = $1 AND ($2::text[] IS NULL OR (batch_id, idx) IN (SELECT * FROM unnest($2::text[], $3::int[])))`;
  const selection = [owner, items ? items.map((item) => item.batchId) : null, items ? items.map((item) => item.index) : null];
  return db.transaction(async (client) => {
    const { inProgress, other } = await lockBatchesOfRunningItems(client, selected, selection);
    const ended = await client.query(
      `UPDATE items SET lease_owner = NULL, lease_expires_at_ms = 0 WHERE status = 'running' AND ${selected} AND batch_id = ANY($4::text[])`,
      [...selection, other],
    );
    const requeued = await client.query(
      `UPDATE items SET status = 'pending', ${CLEAR_LEASE} WHERE status = 'running' AND ${selected} AND batch_id = ANY($4::text[])`,
      [...selection, inProgress],
    );
    return (ended.rowCount ?? 0) + (requeued.rowCount ?? 0);
  });
}

export async function reclaimExpiredItems(db: PostgresDatabase, nowMs: number): Promise<number> {
  return db.transaction(async (client) => {
    const { inProgress, other } = await lockBatchesOfRunningItems(client, "lease_expires_at_ms <= $1", [nowMs]);
    const cancelled = await client.query<{ batch_id: string }>(
      `UPDATE items SET status = 'cancelled', ${resultAssignments(3)}, ${CLEAR_LEASE}
       WHERE status = 'running' AND lease_expires_at_ms <= $1 AND batch_id = ANY($2::text[])
       RETURNING batch_id`,
      [nowMs, other, ...resultValues(cancelledResult(nowMs))],
    );
    const counts = new CountDeltas();
    for (const row of cancelled.rows) counts.add(row.batch_id, "cancelled");
    await counts.apply(client, nowMs);
    const requeued = await client.query(
      `UPDATE items SET status = 'pending', ${CLEAR_LEASE} WHERE status = 'running' AND lease_expires_at_ms <= $1 AND batch_id = ANY($2::text[])`,
      [nowMs, inProgress],
    );
    return cancelled.rows.length + (requeued.rowCount ?? 0);
  });
}

/**
 * Items whose Lease expired after their last allowed Attempt end failed instead of going back to the queue.
 * Only in in_progress Batches: in a cancelling one reclaimExpiredItems cancels them. Their followers fail
 * with them (a follower never ends without a result).
 */
export async function failExhaustedItems(db: PostgresDatabase, maxAttempts: number, nowMs: number, result: ItemResult): Promise<number> {
  return db.transaction(async (client) => {
    const exhausted = "lease_expires_at_ms <= $1 AND attempts >= $2";
    const { inProgress } = await lockBatchesOfRunningItems(client, exhausted, [nowMs, maxAttempts]);
    if (inProgress.length === 0) return 0;
    const failed = await client.query<{ batch_id: string; idx: number; follower_count: number }>(
      `UPDATE items SET status = 'failed', ${resultAssignments(4)}, ${CLEAR_LEASE}
       WHERE status = 'running' AND ${exhausted} AND batch_id = ANY($3::text[])
       RETURNING batch_id, idx, follower_count`,
      [nowMs, maxAttempts, inProgress, ...resultValues(result)],
    );
    const counts = new CountDeltas();
    for (const row of failed.rows) counts.add(row.batch_id, "failed", 1, result.usage);
    const leaders = failed.rows.filter((row) => row.follower_count > 0).map((row) => ({ batchId: row.batch_id, index: row.idx }));
    await copyToFollowers(client, leaders, "failed", result, counts);
    await counts.apply(client, nowMs);
    return failed.rows.length;
  });
}
