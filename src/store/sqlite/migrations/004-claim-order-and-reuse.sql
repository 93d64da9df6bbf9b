-- 004: prefix-aware claim order and duplicate reuse (issue 10; the claim is explained in items-sql.ts).
--
-- prefix_key / request_hash: computed by validation from the request (src/core/request-keys.ts); startBatch
-- reads them once to arrange the Batch, the hot path never does.
-- claim_pos: the Item's place in its Batch's claim order (its index unless startBatch arranged the Batch).
-- leader_idx: set on a follower, a duplicate of an earlier Item (its leader) of the same Batch. Followers
-- stay pending without being claimable, and take a copy of the leader's result when it is recorded.
-- follower_count: on a leader, how many followers wait for its result (0 for everyone else), so recording a
-- result looks for followers only when there are some.
ALTER TABLE items ADD COLUMN prefix_key TEXT;
ALTER TABLE items ADD COLUMN request_hash TEXT;
ALTER TABLE items ADD COLUMN claim_pos INTEGER NOT NULL DEFAULT 0;
ALTER TABLE items ADD COLUMN leader_idx INTEGER;
ALTER TABLE items ADD COLUMN follower_count INTEGER NOT NULL DEFAULT 0;
-- Items that took a copy of another's result; also counted as succeeded or failed.
ALTER TABLE batches ADD COLUMN reused_items INTEGER NOT NULL DEFAULT 0;

-- Items that may still be claimed (failed ones, by a retry) keep their input order.
UPDATE items SET claim_pos = idx WHERE status IN ('staged', 'pending', 'running', 'failed');

-- The claim queue, now in claim order, and without followers (they are never claimed).
DROP INDEX items_pending;
CREATE INDEX items_pending ON items (model, batch_seq, claim_pos) WHERE status = 'pending' AND leader_idx IS NULL;
-- Followers still waiting, by leader: recording a leader's result copies it to them. Only pending followers
-- are in it, so it stays as small as the duplicates not yet answered.
CREATE INDEX items_waiting_followers ON items (batch_id, leader_idx) WHERE status = 'pending' AND leader_idx IS NOT NULL;
