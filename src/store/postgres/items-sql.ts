/** Items: inserted by validation, claimed and completed by Workers (the hot path), read by finalization. */
import type { ItemStatus } from "../../core/types.ts";
import { CLAIMED_ITEM_COLUMNS, claimedItemDialect, toClaimedItem, toItem, type ClaimedItemRow, type ItemRow } from "../shared/row-mappers.ts";
import { batchNotFound } from "../shared/store-errors.ts";
import type { ClaimedItem, ClaimRequest, ItemCompletion, ItemPage, NewItem } from "../store.ts";
import type { PostgresDatabase, Queryable } from "./database.ts";
import { NO_HINT, type ClaimHints } from "./claim-hints.ts";
import { ITEM_COLUMNS, itemColumns, withoutBitmapScans } from "./sql-fragments.ts";
import { packedText, TextPack } from "./text-pack.ts";

/**
 * Rows per INSERT. Each statement binds one array per column (unnest), so its size is bounded by memory,
 * not by PostgreSQL's 65,535 bind parameters as a multi-row VALUES would be; 5,000 keeps each message a
 * few MB with typical request bodies.
 */
const INSERT_CHUNK = 5_000;

/**
 * Items go in as pending (or failed, for a bad line of a "skip" Batch) and are counted in `total` at once,
 * so counts always add up to the Items that exist, even if validation is interrupted or cancelled. The
 * claim takes Items only of in_progress Batches, so startBatch need not rewrite every row (decision 0049).
 * One transaction for the whole call; updated_at_ms is left alone (no clock is passed in).
 */
export async function insertItems(db: PostgresDatabase, batchId: string, items: readonly NewItem[]): Promise<void> {
  await db.transaction((client) => insertItemsWith(client, batchId, items));
}

/** insertItems inside the caller's transaction (startBatch's, for validation's last chunk). */
export async function insertItemsWith(client: Queryable, batchId: string, items: readonly NewItem[]): Promise<void> {
  const { rows } = await client.query<{ seq: number }>("SELECT seq FROM batches WHERE id = $1", [batchId]);
  const batch = rows[0];
  if (!batch) throw batchNotFound(batchId);
  const runnable = items.filter((item) => !item.result);
  const failed = items.filter((item) => item.result);
  for (let start = 0; start < runnable.length; start += INSERT_CHUNK) {
    await insertPending(client, batchId, batch.seq, runnable.slice(start, start + INSERT_CHUNK));
  }
  for (let start = 0; start < failed.length; start += INSERT_CHUNK) {
    await insertFailed(client, batchId, batch.seq, failed.slice(start, start + INSERT_CHUNK));
  }
  const inputTokens = failed.reduce((sum, item) => sum + (item.result?.usage.inputTokens ?? 0), 0);
  const outputTokens = failed.reduce((sum, item) => sum + (item.result?.usage.outputTokens ?? 0), 0);
  await client.query(
    `UPDATE batches SET total_items = total_items + $2, failed_items = failed_items + $3,
       input_tokens = input_tokens + $4, output_tokens = output_tokens + $5
     WHERE id = $1`,
    [batchId, items.length, failed.length, inputTokens, outputTokens],
  );
}

async function insertPending(client: Queryable, batchId: string, batchSeq: number, items: readonly NewItem[]): Promise<void> {
  // The requests, the bulk of the statement, go packed (text-pack.ts).
  const pack = new TextPack();
  const requests = pack.add(items.map((item) => item.request));
  await client.query(
    // claim_pos starts as the index: input order, unless startBatch arranges the Batch.
    `WITH u AS (
       SELECT * FROM unnest($3::int[], $4::text[], $5::text[], $6::text[], $7::text[], $8::int[], $11::int[], $9::text[], $10::text[])
         AS u (idx, client_id, echo, model, kind, request_at, request_length, prefix_key, request_hash)),
     requests AS (INSERT INTO item_requests (batch_id, idx, request) SELECT $1, idx, ${packedText("$12::bytea", "request_at", "request_length")} FROM u)
     INSERT INTO items (batch_id, idx, batch_seq, client_id, echo, model, kind, prefix_key, request_hash, claim_pos, status)
     SELECT $1, u.idx, $2, u.client_id, u.echo, u.model, u.kind, u.prefix_key, u.request_hash, u.idx, 'pending' FROM u`,
    [
      batchId,
      batchSeq,
      items.map((item) => item.index),
      items.map((item) => item.clientId),
      items.map((item) => item.echo),
      items.map((item) => item.model),
      items.map((item) => item.kind),
      requests.starts,
      items.map((item) => item.prefixKey ?? null),
      items.map((item) => item.requestHash ?? null),
      requests.lengths,
      pack.bytes(),
    ],
  );
}

async function insertFailed(client: Queryable, batchId: string, batchSeq: number, items: readonly NewItem[]): Promise<void> {
  const result = <T>(pick: (r: NonNullable<NewItem["result"]>) => T): T[] => items.map((item) => pick(item.result as NonNullable<NewItem["result"]>));
  await client.query(
    `WITH u AS (
       SELECT * FROM unnest($3::int[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[],
                            $9::int[], $10::text[], $11::text[], $12::text[], $13::text[], $14::bigint[], $15::bigint[], $16::bigint[])
         AS u (idx, client_id, echo, model, kind, request,
               status_code, body, error_code, error_message, request_id, input_tokens, output_tokens, finished_at_ms)),
     requests AS (INSERT INTO item_requests (batch_id, idx, request) SELECT $1, idx, request FROM u)
     INSERT INTO items (batch_id, idx, batch_seq, client_id, echo, model, kind, claim_pos, status,
                        status_code, body, error_code, error_message, request_id, input_tokens, output_tokens, finished_at_ms)
     SELECT $1, u.idx, $2, u.client_id, u.echo, u.model, u.kind, u.idx, 'failed',
            u.status_code, u.body, u.error_code, u.error_message, u.request_id, u.input_tokens, u.output_tokens, u.finished_at_ms
     FROM u`,
    [
      batchId,
      batchSeq,
      items.map((item) => item.index),
      items.map((item) => item.clientId),
      items.map((item) => item.echo),
      items.map((item) => item.model),
      items.map((item) => item.kind),
      items.map((item) => item.request),
      result((r) => r.statusCode),
      result((r) => r.body),
      result((r) => r.errorCode),
      result((r) => r.errorMessage),
      result((r) => r.requestId),
      result((r) => r.usage.inputTokens),
      result((r) => r.usage.outputTokens),
      result((r) => r.finishedAtMs),
    ],
  );
}

/** Every Item of a Batch, with its request. */
export async function deleteItems(client: Queryable, batchId: string): Promise<void> {
  await client.query("DELETE FROM items WHERE batch_id = $1", [batchId]);
  await client.query("DELETE FROM item_requests WHERE batch_id = $1", [batchId]);
}

/** Deletes every Item of a Batch and zeroes its counters (an interrupted validation starts over). */
export async function clearItems(db: PostgresDatabase, batchId: string): Promise<void> {
  await db.transaction(async (client) => {
    await deleteItems(client, batchId);
    await client.query(
      `UPDATE batches SET total_items = 0, succeeded_items = 0, failed_items = 0, cancelled_items = 0, expired_items = 0,
                          input_tokens = 0, output_tokens = 0
       WHERE id = $1`,
      [batchId],
    );
  });
}

/**
 * One claim statement: lock the rows `next` selects (batch_id, idx; SKIP LOCKED), flip them to running
 * with the Lease and the Attempt counted, and return them with their requests, in `order`. The three
 * claims below differ only in how `next` walks the claim index.
 */
function claimStatement(next: string, returningExtra: string, order: string): string {
  return `
  WITH claimed AS (
    UPDATE items i
    SET status = 'running', lease_owner = $1, lease_expires_at_ms = $2, attempts = i.attempts + 1
    FROM (${next}) AS next
    WHERE i.batch_id = next.batch_id AND i.idx = next.idx
    RETURNING ${returningExtra}${itemColumns("i", CLAIMED_ITEM_COLUMNS)}, ${claimedItemDialect("i")})
  SELECT ${itemColumns("c", CLAIMED_ITEM_COLUMNS)}, c.dialect, r.request
  FROM claimed c JOIN item_requests r ON r.batch_id = c.batch_id AND r.idx = c.idx
  ORDER BY ${order}`;
}

/**
 * The claim: the heart of the system. Every Item a Worker runs passes through this one statement, from
 * any number of processes at once.
 *
 * Shape: the subquery walks the partial index `items_pending (model, batch_seq, claim_pos) WHERE status =
 * 'pending' AND leader_idx IS NULL` in claim order and locks the first `limit` rows it can; the UPDATE
 * flips exactly those rows to running, counts the Attempt, sets the Lease, and RETURNING hands them back.
 * One round trip; cost O(limit) whatever the size of the queue or of the history, because finished Items
 * are not in the index, nor are followers (duplicates waiting for their leader's result, never claimed).
 *
 * Order: oldest Batch first (FIFO across Batches), then the Batch's claim_pos: its input order, or, when
 * startBatch arranged it by prefix key (arrangement-sql.ts), Items sharing a prompt start back to back,
 * largest group first, so the engine's prefix cache hits (issue 10). The order is decided once per Batch
 * and stored; the claim stays one index walk. An Item returned to pending keeps its place. The
 * alternatives that lost for the order (grouping at claim time, renumbering Items, a prefix tree) are
 * discussed at the SQLite claim (src/store/sqlite/items-sql.ts); they lose the same way here.
 *
 * Why FOR UPDATE SKIP LOCKED: two claimers that read the same head of the queue would otherwise either
 * block on each other (plain FOR UPDATE: the second waits for the first to commit, then re-checks, finds
 * the rows running, and returns short) or both take them (no lock). SKIP LOCKED makes the second claimer
 * pass over rows the first has locked and take the next ones, so N claimers take N disjoint slices of the
 * queue in parallel, and none ever waits. Under READ COMMITTED a row that changed after our snapshot is
 * re-checked against `status = 'pending'` when locked, so a row another claimer just took is never returned.
 *
 * Why attempts are counted here and not on completion: a request that kills its process (OOM, segfault
 * in a local engine) never completes; counting at claim means it still uses up attempts and is failed by
 * failExhaustedItems instead of being retried forever.
 *
 * Why the Batch is checked, once per Batch claimed from: a Batch's Items are pending from the moment
 * validation inserts them, so a validating Batch has pending Items that must not run (decision 0049). The
 * Worker's claims name their Batches, so the EXISTS is a one-time filter per Batch, not a lookup per row;
 * the FIFO claim, which the Worker does not use, checks each row's Batch. Every other pending Item is in an
 * in_progress Batch (cancel, expiry, delete turn them terminal in the transaction that changes the Batch;
 * reclaim and release requeue only into in_progress Batches, holding the Batch row lock). Before, validation
 * inserted Items as staged and startBatch rewrote every row to pending: 1.2 s of PostgreSQL's time in a
 * 100k-Item run, a third of its validation.
 *
 * Alternatives that lost:
 * - Advisory locks per Item (pg_try_advisory_lock in the WHERE, as older queues did): the planner may
 *   evaluate the lock function on rows it then discards, leaking locks; they are session-scoped, so a
 *   pooled connection must unlock precisely; and they add nothing SKIP LOCKED does not do.
 * - LISTEN/NOTIFY as the queue: notifications are lost when no one listens and are not durable; they can
 *   wake Workers, never replace the table. (Workers poll with backoff; a NOTIFY wake-up could be added.)
 * - Per-Worker partitions (hash of the Item onto a Worker): needs membership and rebalancing when a
 *   process dies or joins, and one slow partition stalls its share of the queue.
 * - SELECT candidates, then UPDATE in a second statement: two round trips holding locks between them.
 * - SERIALIZABLE without locks: every concurrent claim of the queue head is a serialization failure.
 * - The request in the Item row (before migration 005): every claim, completion and renewal wrote a new row
 *   version holding the request again; apart, it is written once and joined here by primary key.
 */
const CLAIM_SQL = claimStatement(
  `SELECT batch_id, idx FROM items
   WHERE status = 'pending' AND leader_idx IS NULL AND model = $3
     AND EXISTS (SELECT 1 FROM batches b WHERE b.seq = items.batch_seq AND b.status = 'in_progress')
   ORDER BY batch_seq, claim_pos
   LIMIT $4
   FOR UPDATE SKIP LOCKED`,
  "",
  "c.batch_seq, c.claim_pos",
);

/**
 * The fair-share claim (issue 12): the Worker decides how many Items each Batch gets (src/scheduling/),
 * and one statement claims them all, one round trip as before. `unnest ... WITH ORDINALITY` lists the
 * Batches in the Worker's order; for each, a LATERAL subquery walks the same partial index with
 * `batch_seq` pinned (a range scan of that Batch's queue in claim_pos order), locking with SKIP LOCKED as
 * the FIFO claim does. Per-Batch limits were cut to the total by the caller. Each Batch's walk starts at
 * a lower bound on its claim position (`low`): where this process's last claim of it ended
 * (claim-hints.ts), so that it does not step over the dead index entries of every Item claimed before
 * (PostgreSQL keeps them until VACUUM); claimItems walks again from the start for what that finds too
 * little of.
 */
const CLAIM_BATCHES_SQL = claimStatement(
  `SELECT s.ord, n.batch_id, n.idx
   FROM unnest($4::bigint[], $5::int[], $6::int[]) WITH ORDINALITY AS s (batch_seq, lim, low, ord)
   CROSS JOIN LATERAL (
     SELECT batch_id, idx FROM items
     WHERE status = 'pending' AND leader_idx IS NULL AND model = $3 AND batch_seq = s.batch_seq AND claim_pos >= s.low
       AND EXISTS (SELECT 1 FROM batches b WHERE b.seq = s.batch_seq AND b.status = 'in_progress')
     ORDER BY claim_pos
     LIMIT s.lim
     FOR UPDATE SKIP LOCKED
   ) AS n`,
  "next.ord, ",
  "c.ord, c.claim_pos",
);

/**
 * The fair-share claim from one Batch, the common case (a lone Batch, or a lane whose plan gives one Batch
 * the whole claim): the same walk without `unnest`. PostgreSQL re-plans CLAIM_BATCHES_SQL on every call
 * (its generic plan guesses 100 Batches in the `unnest` and loses, decision 0037); this one keeps a generic
 * plan like the FIFO claim.
 */
const CLAIM_ONE_BATCH_SQL = claimStatement(
  `SELECT batch_id, idx FROM items
   WHERE status = 'pending' AND leader_idx IS NULL AND model = $3 AND batch_seq = $4 AND claim_pos >= $6
     AND EXISTS (SELECT 1 FROM batches b WHERE b.seq = $4 AND b.status = 'in_progress')
   ORDER BY claim_pos
   LIMIT $5
   FOR UPDATE SKIP LOCKED`,
  "",
  "c.claim_pos",
);

export async function claimItems(db: PostgresDatabase, request: ClaimRequest, hints?: ClaimHints): Promise<ClaimedItem[]> {
  if (request.limit <= 0) return [];
  const leaseExpiresAtMs = request.nowMs + request.leaseMs;
  if (request.batches === undefined) {
    const { rows } = await db.prepared<ClaimedItemRow>("spool_claim", CLAIM_SQL, [request.owner, leaseExpiresAtMs, request.model, request.limit]);
    return rows.map(toClaimedItem);
  }
  const wanted: { seq: number; take: number }[] = [];
  let left = request.limit;
  for (const { batchSeq, limit } of request.batches) {
    const take = Math.min(limit, left);
    if (take <= 0) continue;
    wanted.push({ seq: batchSeq, take });
    left -= take;
  }
  if (wanted.length === 0) return [];
  // First from where this process's last claim of each Batch ended (claim-hints.ts); what that walk could
  // not find is looked for again from each Batch's start, so nothing below a hint is ever left behind.
  const lows = wanted.map(({ seq }) => hints?.from(request.model, seq, request.nowMs) ?? NO_HINT);
  const rows = await claimFrom(db, request, leaseExpiresAtMs, wanted, lows);
  if (lows.some((low) => low !== NO_HINT)) {
    const got = new Map<number, number>();
    for (const row of rows) got.set(row.batch_seq, (got.get(row.batch_seq) ?? 0) + 1);
    const short = wanted.flatMap((want, index) => (lows[index] !== NO_HINT && (got.get(want.seq) ?? 0) < want.take ? [{ seq: want.seq, take: want.take - (got.get(want.seq) ?? 0) }] : []));
    if (short.length > 0) rows.push(...(await claimFrom(db, request, leaseExpiresAtMs, short, short.map(() => NO_HINT))));
  }
  if (hints !== undefined) {
    const ends = new Map<number, number>();
    for (const row of rows) ends.set(row.batch_seq, Math.max(ends.get(row.batch_seq) ?? NO_HINT, row.claim_pos));
    for (const [seq, position] of ends) hints.claimed(request.model, seq, position, request.nowMs);
  }
  return rows.map(toClaimedItem);
}

async function claimFrom(db: PostgresDatabase, request: ClaimRequest, leaseExpiresAtMs: number, wanted: readonly { seq: number; take: number }[], lows: readonly number[]): Promise<ClaimedItemRow[]> {
  if (wanted.length === 1) {
    const [{ seq, take }] = wanted as [{ seq: number; take: number }];
    const { rows } = await db.prepared<ClaimedItemRow>("spool_claim_batch", CLAIM_ONE_BATCH_SQL, [request.owner, leaseExpiresAtMs, request.model, seq, take, lows[0]]);
    return rows;
  }
  const { rows } = await db.prepared<ClaimedItemRow>("spool_claim_batches", CLAIM_BATCHES_SQL, [request.owner, leaseExpiresAtMs, request.model, wanted.map((want) => want.seq), wanted.map((want) => want.take), lows]);
  return rows;
}

/**
 * Records a whole buffer of results (the Worker sends up to ~500) in one statement, hence one round trip
 * and one implicit transaction: the completions arrive as parallel arrays, each row is fenced by owner and
 * Attempt, and the rows that passed the fence feed the Batch counters in the same statement (data-modifying
 * CTEs run to completion and see each other's RETURNING). A Worker whose Lease passed to another cannot
 * overwrite that Worker's result; only applied rows move the counters.
 *
 * Followers: `copied` gives the waiting followers of every applied leader (follower_count > 0; other
 * Items cost only that comparison) a copy of its result with zero usage, in the same statement, so a
 * crash records both or neither. Unlike the leaders (running, leased to us) the followers are pending
 * rows a concurrent cancel may be changing: READ COMMITTED re-checks `status = 'pending'` after waiting
 * for it, and a deadlock with a cancel that locked the Batch row first is retried by the database layer.
 *
 * The fence is compared with IS NOT DISTINCT FROM (the same as `=` here: no side is NULL) so that only the
 * primary key can find the rows. Written with `=`, the planner combined the primary key with the partial
 * index on running Items by owner (a BitmapAnd), and that index holds an entry for every Item that ran since
 * the last vacuum, dead ones included (bitmap scans never mark them dead): 4,556 entries read per completed
 * Item late in a 100k run, 86 ms per call of ~240 Items, half of PostgreSQL's CPU (decision 0037).
 *
 * `locked` takes the Batch rows in id order before `counted` changes them, as every transaction here
 * does: two processes completing Items of the same Batches would otherwise lock them in whatever order their
 * join produced and now and then deadlock, stalling both for deadlock_timeout (1 s) before the retry.
 *
 * Result cache (migration 015): `cached` keeps each applied, succeeded result whose completion asked for it
 * (`cacheResult`) and whose Item has a request hash, replacing an older result of the same request.
 */
const COMPLETE_SQL = `
  WITH completion AS (
    SELECT c.batch_id, c.idx, c.owner, c.attempt, c.status, c.status_code, ${packedText("$19::bytea", "c.body_at", "c.body_length")} AS body,
           c.error_code, c.error_message, c.request_id, c.input_tokens, c.output_tokens, c.finished_at_ms, c.charged, c.charged_list, c.cache
    FROM unnest($1::text[], $2::int[], $3::text[], $4::int[], $5::text[],
                $6::int[], $7::int[], $18::int[], $8::text[], $9::text[], $10::text[], $11::bigint[], $12::bigint[], $13::bigint[],
                $15::bigint[], $16::bigint[], $17::boolean[])
      AS c (batch_id, idx, owner, attempt, status,
            status_code, body_at, body_length, error_code, error_message, request_id, input_tokens, output_tokens, finished_at_ms,
            charged, charged_list, cache)
  ),
  done AS (
    UPDATE items i SET
      status = c.status, status_code = c.status_code, body = c.body, error_code = c.error_code,
      error_message = c.error_message, request_id = c.request_id, input_tokens = c.input_tokens,
      output_tokens = c.output_tokens, finished_at_ms = c.finished_at_ms,
      lease_owner = NULL, lease_expires_at_ms = NULL
    FROM completion c
    WHERE i.batch_id = c.batch_id AND i.idx = c.idx
      AND (i.status, i.lease_owner, i.attempts) IS NOT DISTINCT FROM ('running', c.owner, c.attempt)
    RETURNING i.batch_id, i.idx, i.status, i.input_tokens, i.output_tokens, i.follower_count, c.charged, c.charged_list,
              i.model, i.kind, i.request_hash, c.cache
  ),
  cached AS (
    INSERT INTO result_cache (tenant, dialect, model, kind, request_hash, status_code, body, request_id, input_tokens, output_tokens, created_at_ms)
    SELECT DISTINCT ON (b.tenant, d.model, d.request_hash, b.dialect, d.kind)
           b.tenant, b.dialect, d.model, d.kind, d.request_hash, c.status_code, c.body, c.request_id, c.input_tokens, c.output_tokens, $14
    FROM done d JOIN completion c ON c.batch_id = d.batch_id AND c.idx = d.idx JOIN batches b ON b.id = d.batch_id
    WHERE d.cache AND d.status = 'succeeded' AND d.request_hash IS NOT NULL AND c.body IS NOT NULL AND c.status_code IS NOT NULL
    ON CONFLICT (tenant, model, request_hash, dialect, kind) DO UPDATE SET
      status_code = EXCLUDED.status_code, body = EXCLUDED.body, request_id = EXCLUDED.request_id,
      input_tokens = EXCLUDED.input_tokens, output_tokens = EXCLUDED.output_tokens, created_at_ms = EXCLUDED.created_at_ms
  ),
  copied AS (
    UPDATE items f SET
      status = d.status, status_code = c.status_code, body = c.body, error_code = c.error_code,
      error_message = c.error_message, request_id = c.request_id, input_tokens = 0, output_tokens = 0,
      finished_at_ms = c.finished_at_ms
    FROM done d JOIN completion c ON c.batch_id = d.batch_id AND c.idx = d.idx
    WHERE d.follower_count > 0 AND f.batch_id = d.batch_id AND f.leader_idx = d.idx AND f.status = 'pending'
    RETURNING f.batch_id, f.status
  ),
  locked AS (
    SELECT b.id FROM batches b WHERE b.id IN (SELECT batch_id FROM done) ORDER BY b.id FOR NO KEY UPDATE
  ),
  counted AS (
    UPDATE batches b SET
      succeeded_items = b.succeeded_items + d.succeeded, failed_items = b.failed_items + d.failed,
      cancelled_items = b.cancelled_items + d.cancelled, reused_items = b.reused_items + d.reused,
      input_tokens = b.input_tokens + d.input_tokens, output_tokens = b.output_tokens + d.output_tokens,
      charged_nano_usd = b.charged_nano_usd + d.charged, charged_list_nano_usd = b.charged_list_nano_usd + d.charged_list,
      updated_at_ms = $14
    FROM (
      SELECT batch_id,
             count(*) FILTER (WHERE status = 'succeeded') AS succeeded,
             count(*) FILTER (WHERE status = 'failed') AS failed,
             count(*) FILTER (WHERE status = 'cancelled') AS cancelled,
             count(*) FILTER (WHERE reused) AS reused,
             sum(input_tokens) AS input_tokens, sum(output_tokens) AS output_tokens,
             sum(charged) AS charged, sum(charged_list) AS charged_list
      FROM (SELECT batch_id, status, input_tokens, output_tokens, charged, charged_list, false AS reused FROM done
            UNION ALL SELECT batch_id, status, 0, 0, 0, 0, true FROM copied) AS finished
      GROUP BY batch_id
    ) AS d, locked l
    WHERE b.id = d.batch_id AND l.id = b.id
    RETURNING b.id, (b.status = 'in_progress' AND b.succeeded_items + b.failed_items + b.cancelled_items + b.expired_items >= b.total_items
      AND b.results_writer <> ($3::text[])[1] AND b.results_writer_until_ms > $14) AS handed
  )
  SELECT (SELECT count(*) FROM done) AS applied, (SELECT array_agg(id) FROM counted WHERE handed) AS handed`;

/**
 * `applied`: the completions that passed the fence. `handed`: the Batches these completions finished whose
 * results another process writes early (decision 0061): that process finalizes them, and is told so.
 */
export async function completeItems(db: PostgresDatabase, completions: readonly ItemCompletion[], nowMs: number): Promise<{ applied: number; handed: string[] }> {
  if (completions.length === 0) return { applied: 0, handed: [] };
  const column = <T>(pick: (completion: ItemCompletion) => T): T[] => completions.map(pick);
  // The bodies, the bulk of the statement, go packed (text-pack.ts).
  const pack = new TextPack();
  const bodies = pack.add(column((c) => c.result.body));
  const { rows } = await db.prepared<{ applied: number; handed: string[] | null }>("spool_complete", COMPLETE_SQL, [
    column((c) => c.batchId),
    column((c) => c.index),
    column((c) => c.owner),
    column((c) => c.attempt),
    column((c) => c.status),
    column((c) => c.result.statusCode),
    bodies.starts,
    column((c) => c.result.errorCode),
    column((c) => c.result.errorMessage),
    column((c) => c.result.requestId),
    column((c) => c.result.usage.inputTokens),
    column((c) => c.result.usage.outputTokens),
    column((c) => c.result.finishedAtMs),
    nowMs,
    column((c) => c.result.charge?.batchNanoUsd ?? 0),
    column((c) => c.result.charge?.listNanoUsd ?? 0),
    column((c) => c.cacheResult === true),
    bodies.lengths,
    pack.bytes(),
  ]);
  return { applied: Number(rows[0]?.applied ?? 0), handed: rows[0]?.handed ?? [] };
}

/**
 * Keyset pagination by index; fetches one extra row to know whether another page follows.
 *
 * In a transaction of its own without bitmap scans (withoutBitmapScans): with 382 rows estimated for a
 * 100,000-Item Batch just validated, finalization read the whole rest of the Batch for every page, 89 ms
 * per page of 1,000, quadratic in the Batch's size.
 */
export async function readItems(db: PostgresDatabase, batchId: string, params: { afterIndex: number; limit: number; statuses?: readonly ItemStatus[] }): Promise<ItemPage> {
  const rows = await db.transaction(async (client) => {
    await withoutBitmapScans(client);
    const page = await client.query<ItemRow>(
      `SELECT ${ITEM_COLUMNS} FROM items
       WHERE batch_id = $1 AND idx > $2 AND ($3::text[] IS NULL OR status = ANY($3::text[]))
       ORDER BY idx LIMIT $4`,
      [batchId, params.afterIndex, params.statuses ? [...params.statuses] : null, params.limit + 1],
    );
    return page.rows;
  });
  const items = rows.slice(0, params.limit).map(toItem);
  const last = items.at(-1);
  return { items, nextAfterIndex: rows.length > params.limit && last ? last.index : null };
}
