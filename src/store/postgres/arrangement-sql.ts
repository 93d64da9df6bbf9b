/**
 * How a Batch's Items run (issue 10): the claim order startBatch works out from their prefix keys, and the
 * duplicates that wait for their leader's result instead of running. Same rules and statements as the
 * SQLite Store (src/store/sqlite/arrangement-sql.ts explains the arrangement step by step). Recording a
 * leader's result copies it to its followers inside completeItems' statement (items-sql.ts); the
 * Sweeper's failures of crashed Items use copyToFollowers below.
 */
import type { ItemResult } from "../../core/types.ts";
import type { ItemCompletion } from "../store.ts";
import type { Queryable } from "./database.ts";
import { type CountDeltas, resultAssignments, resultValues } from "./sql-fragments.ts";

/**
 * One pass of window functions over the Batch's Items not started (pending: the claim takes none of them
 * until startBatch's transaction, which runs this, makes the Batch in_progress; decision 0049), never a join of the Batch's Items with themselves:
 * the Items were inserted moments ago, so PostgreSQL has no statistics for them, plans every intermediate
 * result as one row, and a join between two CTEs (an earlier form of this statement) became a nested loop,
 * quadratic in the Batch's size (a 20k-Item Batch took minutes to start). Group statistics count leaders
 * only (FILTER): followers share their leader's prefix key but never run; they sort after every leader and
 * get no place (claim_pos stays their index).
 */
const ARRANGE_SQL = `
  WITH unstarted AS (
    SELECT idx, prefix_key,
           CASE WHEN request_hash IS NULL THEN idx ELSE min(idx) OVER (PARTITION BY request_hash) END AS leader
    FROM items WHERE batch_id = $1 AND status = 'pending'),
  grouped AS (
    SELECT idx, leader,
           CASE WHEN prefix_key IS NULL THEN 1 ELSE count(*) FILTER (WHERE leader = idx) OVER (PARTITION BY prefix_key) END AS group_size,
           CASE WHEN prefix_key IS NULL THEN idx ELSE min(idx) FILTER (WHERE leader = idx) OVER (PARTITION BY prefix_key) END AS group_first,
           CASE WHEN leader = idx THEN count(*) OVER (PARTITION BY leader) - 1 ELSE 0 END AS follower_count
    FROM unstarted),
  arranged AS (
    SELECT idx, follower_count,
           CASE WHEN leader = idx THEN NULL ELSE leader END AS leader_idx,
           CASE WHEN leader = idx THEN row_number() OVER (ORDER BY leader <> idx, group_size DESC, group_first, idx) - 1 END AS pos
    FROM grouped)
  UPDATE items i SET claim_pos = coalesce(a.pos, i.idx), leader_idx = a.leader_idx, follower_count = a.follower_count
  FROM arranged a
  WHERE i.batch_id = $1 AND i.idx = a.idx AND i.status = 'pending'`;

/** Arranges a keyed Batch being started. Call with the Batch row locked (startBatch). */
export async function arrangeItems(client: Queryable, batchId: string): Promise<void> {
  await client.query(ARRANGE_SQL, [batchId]);
}

/**
 * Gives the waiting followers of `leaders` (all ended with the same `result`) a copy of it, with zero
 * usage, and counts them. Call inside the transaction that recorded the leaders' result.
 */
export async function copyToFollowers(
  client: Queryable,
  leaders: readonly { batchId: string; index: number }[],
  status: ItemCompletion["status"],
  result: ItemResult,
  counts: CountDeltas,
): Promise<void> {
  if (leaders.length === 0) return;
  const { rows } = await client.query<{ batch_id: string }>(
    `UPDATE items f SET status = $3, ${resultAssignments(4)}
     FROM unnest($1::text[], $2::int[]) AS l (batch_id, idx)
     WHERE f.batch_id = l.batch_id AND f.leader_idx = l.idx AND f.status = 'pending'
     RETURNING f.batch_id`,
    [leaders.map((leader) => leader.batchId), leaders.map((leader) => leader.index), status, ...resultValues({ ...result, usage: { inputTokens: 0, outputTokens: 0 } })],
  );
  for (const row of rows) {
    counts.add(row.batch_id, status);
    counts.add(row.batch_id, "reused");
  }
}
