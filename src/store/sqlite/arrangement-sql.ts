/**
 * How a Batch's Items run (issue 10): the claim order startBatch works out from their prefix keys, and the
 * duplicates that wait for their leader's result instead of running. The rules are in the Store contract
 * (startBatch); the PostgreSQL Store has the same statements in its own SQL.
 */
import type { ItemResult } from "../../core/types.ts";
import type { ItemCompletion } from "../store.ts";
import type { CountDeltas } from "./counters.ts";
import type { SqliteDatabase } from "./database.ts";
import { resultParams, RESULT_ASSIGNMENTS } from "../shared/row-mappers.ts";

/**
 * Arranges a keyed Batch at its start, before any of its Items can be claimed (they are pending, but the
 * claim takes Items only of in_progress Batches; startBatch runs this in the transaction that starts it).
 *
 * - `unstarted`: each Item's leader is the lowest index with its request hash (itself when it has none).
 * - `runs`: the Items that will be claimed (leaders and unique Items), with the size of their prefix
 *   group counted among those, and the index the group starts at. No key: a group of one.
 * - `ordered`: claim positions, largest group first, then the group seen first, then input order. So a
 *   Batch of unrelated prompts (every group of one) keeps exactly its input order.
 * - the UPDATE writes position, leader (followers only) and follower count (leaders only).
 *
 * Three window sorts over the Batch, once per Batch and off the hot path: the claim itself stays a walk
 * of the items_pending index in claim_pos order.
 */
const ARRANGE_SQL = `
  WITH unstarted AS (
    SELECT idx, prefix_key,
           CASE WHEN request_hash IS NULL THEN idx ELSE min(idx) OVER (PARTITION BY request_hash) END AS leader
    FROM items WHERE batch_id = @batchId AND status = 'pending'),
  runs AS (
    SELECT idx,
           CASE WHEN prefix_key IS NULL THEN 1 ELSE count(*) OVER (PARTITION BY prefix_key) END AS group_size,
           CASE WHEN prefix_key IS NULL THEN idx ELSE min(idx) OVER (PARTITION BY prefix_key) END AS group_first
    FROM unstarted WHERE leader = idx),
  ordered AS (
    SELECT idx, row_number() OVER (ORDER BY group_size DESC, group_first, idx) - 1 AS pos FROM runs),
  arranged AS (
    SELECT s.idx, o.pos,
           CASE WHEN s.leader = s.idx THEN NULL ELSE s.leader END AS leader_idx,
           CASE WHEN s.leader = s.idx THEN count(*) OVER (PARTITION BY s.leader) - 1 ELSE 0 END AS follower_count
    FROM unstarted s LEFT JOIN ordered o ON o.idx = s.idx)
  UPDATE items SET claim_pos = coalesce(a.pos, items.idx), leader_idx = a.leader_idx, follower_count = a.follower_count
  FROM arranged a
  WHERE items.batch_id = @batchId AND items.idx = a.idx AND items.status = 'pending'`;

export function arrangeItems(db: SqliteDatabase, batchId: string): void {
  db.statement(ARRANGE_SQL).run({ batchId });
}

/**
 * Gives the followers of one leader still waiting a copy of its result, with zero usage (they cost the
 * engine nothing: the Batch's usage stays what was spent), and counts them. Call inside the transaction
 * that recorded the leader's result, so a follower can never be left without one.
 */
export function copyToFollowers(db: SqliteDatabase, leader: { batchId: string; index: number }, status: ItemCompletion["status"], result: ItemResult, counts: CountDeltas): void {
  const copy = { ...result, usage: { inputTokens: 0, outputTokens: 0 } };
  const { changes } = db
    .statement(
      `UPDATE items INDEXED BY items_waiting_followers SET status = ?, ${RESULT_ASSIGNMENTS}
       WHERE batch_id = ? AND leader_idx = ? AND status = 'pending'`,
    )
    .run(status, ...resultParams(copy), leader.batchId, leader.index);
  counts.add(leader.batchId, status, changes);
  counts.add(leader.batchId, "reused", changes);
}
