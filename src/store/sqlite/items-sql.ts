/** Items: inserted by validation, claimed and completed by Workers (the hot path), read by finalization. */
import type { ItemStatus } from "../../core/types.ts";
import type { ClaimedItem, ClaimRequest, ItemCompletion, ItemPage, NewItem } from "../store.ts";
import { copyToFollowers } from "./arrangement-sql.ts";
import { CountDeltas } from "./counters.ts";
import { cacheResult } from "./result-cache-sql.ts";
import type { SqliteDatabase } from "./database.ts";
import { CLAIMED_ITEM_COLUMNS, claimedItemDialect, ITEM_COLUMNS, resultParams, RESULT_ASSIGNMENTS } from "../shared/row-mappers.ts";
import { claimedItemsOf, itemOf } from "./raw-rows.ts";
import { batchNotFound } from "../shared/store-errors.ts";

const INSERT_COLUMNS =
  "batch_id, idx, batch_seq, client_id, echo, model, kind, prefix_key, request_hash, claim_pos, status, status_code, body, error_code, error_message, request_id, input_tokens, output_tokens, finished_at_ms";
const INSERT_ROW = "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)";
const REQUEST_ROW = "(?, ?, ?)";
/** Rows per INSERT statement: one statement per 50 rows costs about 40% less than one per row. */
const ROWS_PER_INSERT = 50;
const NO_RESULT = [null, null, null, null, null, 0, 0, null];
/** Bind values per Item row (one per INSERT_COLUMNS), of which the last RESULT_WIDTH are the result's. */
const INSERT_WIDTH = INSERT_COLUMNS.split(",").length;
const RESULT_WIDTH = NO_RESULT.length;

/**
 * Items go in as pending (or failed, for a bad line of a "skip" Batch) and are counted in `total` at once,
 * so counts always add up to the Items that exist, even if validation is interrupted or cancelled. Pending
 * Items of a Batch still validating are not claimed: the claim takes Items only of in_progress Batches
 * (CLAIM_SQL), so startBatch need not rewrite every row to make them claimable (decision 0049).
 */
export function insertItems(db: SqliteDatabase, batchId: string, items: readonly NewItem[]): void {
  const insertMany = db.statement(`INSERT INTO items (${INSERT_COLUMNS}) VALUES ${Array(ROWS_PER_INSERT).fill(INSERT_ROW).join(", ")}`);
  const insertOne = db.statement(`INSERT INTO items (${INSERT_COLUMNS}) VALUES ${INSERT_ROW}`);
  const requestsMany = db.statement(`INSERT INTO item_requests (batch_id, idx, request) VALUES ${Array(ROWS_PER_INSERT).fill(REQUEST_ROW).join(", ")}`);
  const requestsOne = db.statement(`INSERT INTO item_requests (batch_id, idx, request) VALUES ${REQUEST_ROW}`);
  db.immediate(() => {
    const batch = db.statement("SELECT seq, updated_at_ms FROM batches WHERE id = ?").get(batchId) as { seq: number; updated_at_ms: number } | undefined;
    if (!batch) throw batchNotFound(batchId);
    const counts = new CountDeltas();
    counts.add(batchId, "total", items.length);
    // Bind values are written into flat arrays reused per statement: building an array per row and flattening
    // them was a quarter of the insert's time on the Store's thread (validation of a 100k-line file).
    const rows = new Array<unknown>(ROWS_PER_INSERT * INSERT_WIDTH);
    const requests = new Array<unknown>(ROWS_PER_INSERT * 3);
    const one = new Array<unknown>(INSERT_WIDTH);
    const oneRequest = new Array<unknown>(3);
    const put = (into: unknown[], at: number, item: NewItem): void => {
      const result = item.result;
      if (result) counts.add(batchId, "failed", 1, result.usage);
      into[at] = batchId;
      into[at + 1] = item.index;
      into[at + 2] = batch.seq;
      into[at + 3] = item.clientId;
      into[at + 4] = item.echo;
      into[at + 5] = item.model;
      into[at + 6] = item.kind;
      // A failed line is never claimed or reused: it has no keys.
      into[at + 7] = result ? null : (item.prefixKey ?? null);
      into[at + 8] = result ? null : (item.requestHash ?? null);
      // claim_pos starts as the index: input order, unless startBatch arranges the Batch.
      into[at + 9] = item.index;
      into[at + 10] = result ? "failed" : "pending";
      const values = result ? resultParams(result) : NO_RESULT;
      for (let k = 0; k < RESULT_WIDTH; k += 1) into[at + 11 + k] = values[k];
    };
    const putRequest = (into: unknown[], at: number, item: NewItem): void => {
      into[at] = batchId;
      into[at + 1] = item.index;
      into[at + 2] = item.request;
    };
    let next = 0;
    for (; next + ROWS_PER_INSERT <= items.length; next += ROWS_PER_INSERT) {
      for (let row = 0; row < ROWS_PER_INSERT; row += 1) {
        const item = items[next + row] as NewItem;
        put(rows, row * INSERT_WIDTH, item);
        putRequest(requests, row * 3, item);
      }
      insertMany.run(rows);
      requestsMany.run(requests);
    }
    for (; next < items.length; next += 1) {
      const item = items[next] as NewItem;
      put(one, 0, item);
      putRequest(oneRequest, 0, item);
      insertOne.run(one);
      requestsOne.run(oneRequest);
    }
    // No clock is passed in: keep updated_at_ms, only the counters move.
    counts.apply(db, batch.updated_at_ms);
  });
}

/** Deletes every Item of a Batch and zeroes its counters (an interrupted validation starts over). */
export function clearItems(db: SqliteDatabase, batchId: string): void {
  db.immediate(() => {
    deleteItems(db, batchId);
    db.statement(
      `UPDATE batches SET total_items = 0, succeeded_items = 0, failed_items = 0, cancelled_items = 0, expired_items = 0,
                          input_tokens = 0, output_tokens = 0
       WHERE id = ?`,
    ).run(batchId);
  });
}

/** Every Item of a Batch, with its request. */
export function deleteItems(db: SqliteDatabase, batchId: string): void {
  db.statement("DELETE FROM items WHERE batch_id = ?").run(batchId);
  db.statement("DELETE FROM item_requests WHERE batch_id = ?").run(batchId);
}

/**
 * The claim: the heart of the system. Every Item a Worker runs passes through this one statement.
 *
 * Shape: a single UPDATE whose subquery walks the partial index `items_pending (model, batch_seq,
 * claim_pos) WHERE status = 'pending' AND leader_idx IS NULL` and stops after `limit` entries; the UPDATE
 * flips those rows to running, counts the Attempt, sets the Lease, and RETURNING hands them back. Cost is
 * O(limit), independent of how many Items are queued or finished, because finished Items (and followers,
 * which wait for their leader's result and never run) are not in the index at all.
 *
 * Order: oldest Batch first (batch_seq: FIFO across Batches), then the Batch's claim order (claim_pos).
 * claim_pos is the Item's index unless startBatch arranged the Batch by prefix key (arrangement-sql.ts):
 * then Items sharing a prompt start are adjacent, largest group first, so a claim of `limit` Items hands
 * the engine runs of one prefix and its prefix cache hits (issue 10). The order is decided once per
 * Batch and stored, so the claim stays one index walk; `worker.dispatchOrder: input` skips the
 * arrangement and keeps the input order of old.
 * An Item returned to pending (expired Lease, release, retry) keeps its claim_pos and is claimed again
 * before the Items that follow it.
 *
 * Why it is safe: an UPDATE takes SQLite's write lock before it reads, so two processes claiming at once
 * are serialized and the second one's subquery no longer sees the rows the first took (PostgreSQL gets
 * the same from FOR UPDATE SKIP LOCKED). Attempts are counted here, not on completion, so an Item that
 * kills its Worker still uses up attempts (see failExhaustedItems).
 *
 * Why the Batch is checked, once: a Batch's Items are pending from the moment validation inserts them, so a
 * validating Batch has pending Items that must not run (decision 0049). The Worker's claim (CLAIM_BATCH_SQL)
 * names its Batch, so the check is one lookup per statement, not per row; the FIFO claim, which the Worker
 * does not use, checks each row's Batch. Every other pending Item is in an in_progress Batch: cancel, expiry
 * and delete turn pending Items terminal in the same transaction that changes the Batch, and Items returned
 * by lease expiry or release go back to pending only while their Batch is in_progress. Before, validation
 * inserted Items as staged and startBatch rewrote every row to pending, which cost more than the rest of
 * the start (every row and its index entries written twice).
 *
 * Alternatives that lost:
 * - SELECT the candidates, then UPDATE them in a transaction: two round trips, and with a DEFERRED
 *   transaction a concurrent writer causes SQLITE_BUSY_SNAPSHOT; nothing gained over one statement.
 * - Ordering by batches.priority / created_at through a join: a join per claim for an order `batch_seq`
 *   already gives (oldest Batch first); priority can become a leading column of the index when needed.
 * - `(batch_id, idx) IN (...)`: works, but matching by rowid lets the subquery stay index-only.
 * - A full index on items(status, model, ...): every finished Item stays in it forever; the partial
 *   index holds only the queue.
 * - Grouping at claim time (index on (model, batch_seq, prefix_key, idx), or "claim more Items of the key
 *   the last claim took"): the index order is the hash order of the keys, not largest group first, and
 *   group sizes are known only once the whole file is read; a per-claim group lookup is a second probe
 *   per claim. Storing the position costs one integer per Item and one sort per Batch.
 * - Reordering the Items themselves (renumbering idx): the index is the output order and the custom id's
 *   line, and finalization reads by it; claim order must be a separate column.
 * - The request in the Item row (before migration 005): every claim, completion and renewal rewrote it;
 *   apart, it is written once and read here by one primary-key lookup per claimed Item.
 * - A prefix tree over all prompts (BatchLLM): finds the longest shared prefix of any two Items, but
 *   needs every prompt in memory at once; one key per Item (system prompt and earlier turns, or the start
 *   of a lone prompt) covers the shared system prompt and shared document cases at a few bytes per Item.
 */
const CLAIM_SQL = `
  UPDATE items
  SET status = 'running', lease_owner = ?, lease_expires_at_ms = ?, attempts = attempts + 1
  WHERE rowid IN (
    SELECT rowid FROM items INDEXED BY items_pending
    WHERE status = 'pending' AND leader_idx IS NULL AND model = ?
      AND EXISTS (SELECT 1 FROM batches b WHERE b.seq = items.batch_seq AND b.status = 'in_progress')
    ORDER BY batch_seq, claim_pos
    LIMIT ?)
  RETURNING ${CLAIMED_ITEM_COLUMNS}, ${claimedItemDialect("items")},
    (SELECT r.request FROM item_requests r WHERE r.batch_id = items.batch_id AND r.idx = items.idx) AS request`;

/**
 * The fair-share claim (issue 12): the same walk, restricted to one Batch (`batch_seq = ?` pins the
 * index's second column, so it is a range scan of that Batch's queue in claim_pos order). The Worker
 * decides how many Items each Batch gets (src/scheduling/); one statement per Batch, all in one IMMEDIATE
 * transaction, so the claim is still one write lock.
 *
 * Shape (decision 0050): the UPDATE walks the index itself, up to the claim_pos of the `limit`-th pending
 * Item (a scalar subquery: OFFSET limit - 1, or every pending Item when there are fewer). It claims exactly
 * `limit` Items because claim_pos is unique among a Batch's claimable Items (input index, or the
 * arrangement's permutation; followers keep their index but are never claimable). The FIFO claim's
 * shape, `rowid IN (subquery)`, cost 100-170 µs a statement of 8 Items against 55-60 µs for this one
 * (better-sqlite3 alone, 200 Batches): little beside 64 Items of one Batch, but a claim spread over 8
 * small Batches took 28 µs per Item against 12 for one Batch; this shape takes 15 against 10.5 (the
 * Store's thread included, 20k Items).
 */
const CLAIM_BATCH_SQL = `
  UPDATE items INDEXED BY items_pending
  SET status = 'running', lease_owner = ?, lease_expires_at_ms = ?, attempts = attempts + 1
  WHERE status = 'pending' AND leader_idx IS NULL AND model = ? AND batch_seq = ?
    AND claim_pos <= coalesce((
      SELECT claim_pos FROM items INDEXED BY items_pending
      WHERE status = 'pending' AND leader_idx IS NULL AND model = ? AND batch_seq = ?
      ORDER BY claim_pos LIMIT 1 OFFSET ?), ${Number.MAX_SAFE_INTEGER})
    AND EXISTS (SELECT 1 FROM batches b WHERE b.seq = ? AND b.status = 'in_progress')
  RETURNING ${CLAIMED_ITEM_COLUMNS}, ${claimedItemDialect("items")},
    (SELECT r.request FROM item_requests r WHERE r.batch_id = items.batch_id AND r.idx = items.idx) AS request`;

export function claimItems(db: SqliteDatabase, request: ClaimRequest): ClaimedItem[] {
  if (request.limit <= 0) return [];
  const leaseExpiresAtMs = request.nowMs + request.leaseMs;
  if (request.batches !== undefined) return claimFromBatches(db, request, leaseExpiresAtMs);
  return claimedItemsOf(db.rawStatement(CLAIM_SQL).all(request.owner, leaseExpiresAtMs, request.model, request.limit) as unknown[][]);
}

function claimFromBatches(db: SqliteDatabase, request: ClaimRequest, leaseExpiresAtMs: number): ClaimedItem[] {
  const claim = db.rawStatement(CLAIM_BATCH_SQL);
  return db.immediate(() => {
    const claimed: ClaimedItem[] = [];
    for (const { batchSeq, limit } of request.batches ?? []) {
      const take = Math.min(limit, request.limit - claimed.length);
      if (take <= 0) continue;
      for (const item of claimedItemsOf(claim.all(request.owner, leaseExpiresAtMs, request.model, batchSeq, request.model, batchSeq, take - 1, batchSeq) as unknown[][])) claimed.push(item);
    }
    return claimed;
  });
}

/**
 * Records results in one IMMEDIATE transaction (the Worker sends up to ~500 at once). Each row is fenced
 * by owner and Attempt, so a Worker whose Lease passed to another cannot overwrite that Worker's result;
 * only applied rows move the Batch counters. A leader's waiting followers get their copy in the same
 * transaction: a crash either records both or neither (the leader then runs again).
 */
export function completeItems(db: SqliteDatabase, completions: readonly ItemCompletion[], nowMs: number): number {
  if (completions.length === 0) return 0;
  const COMPLETE = `UPDATE items SET status = ?, ${RESULT_ASSIGNMENTS}, lease_owner = NULL, lease_expires_at_ms = NULL
     WHERE batch_id = ? AND idx = ? AND status = 'running' AND lease_owner = ? AND attempts = ?`;
  const complete = db.statement(COMPLETE);
  const completeReturning = db.statement(`${COMPLETE} RETURNING follower_count, request_hash`);
  // Reading the row back (RETURNING) costs a quarter of the update: done only where it is needed, for an
  // Item whose result is to be cached, or in a Batch that has followers waiting for a leader's result.
  const waitingFollower = db.statement("SELECT 1 FROM items INDEXED BY items_waiting_followers WHERE batch_id = ? AND status = 'pending' AND leader_idx IS NOT NULL LIMIT 1");
  return db.immediate(() => {
    const counts = new CountDeltas();
    const followersWait = new Map<string, boolean>();
    let applied = 0;
    for (const completion of completions) {
      const params = [completion.status, ...resultParams(completion.result), completion.batchId, completion.index, completion.owner, completion.attempt];
      let waiting = followersWait.get(completion.batchId);
      if (waiting === undefined) followersWait.set(completion.batchId, (waiting = waitingFollower.get(completion.batchId) !== undefined));
      if (!waiting && completion.cacheResult !== true) {
        if (complete.run(...params).changes === 0) continue;
      } else {
        const row = completeReturning.get(...params) as { follower_count: number; request_hash: string | null } | undefined;
        if (!row) continue;
        if (completion.cacheResult === true && completion.status === "succeeded" && row.request_hash !== null) cacheResult(db, completion, row.request_hash, nowMs);
        // Only leaders have followers: everyone else costs no second statement.
        if (row.follower_count > 0) copyToFollowers(db, completion, completion.status, completion.result, counts);
      }
      applied += 1;
      counts.add(completion.batchId, completion.status, 1, completion.result.usage, completion.result.charge);
    }
    counts.apply(db, nowMs);
    return applied;
  });
}

/** Keyset pagination by index; fetches one extra row to know whether another page follows. */
export function readItems(db: SqliteDatabase, batchId: string, params: { afterIndex: number; limit: number; statuses?: readonly ItemStatus[] }): ItemPage {
  const rows = db
    .rawStatement(
      `SELECT ${ITEM_COLUMNS} FROM items
       WHERE batch_id = @batchId AND idx > @afterIndex AND (@statuses IS NULL OR status IN (SELECT value FROM json_each(@statuses)))
       ORDER BY idx LIMIT @limit`,
    )
    .all({ batchId, afterIndex: params.afterIndex, statuses: params.statuses ? JSON.stringify(params.statuses) : null, limit: params.limit + 1 }) as unknown[][];
  const items = rows.slice(0, params.limit).map(itemOf);
  const last = items.at(-1);
  return { items, nextAfterIndex: rows.length > params.limit && last ? last.index : null };
}
