-- 005: request payloads apart from Item status (issue 11; decision 0011).
--
-- The request text (often most of an Item's bytes) is written once by validation and read once per Attempt
-- by the claim; status, Lease and result change several times per Item. In one row every one of those
-- updates rewrote the request too (SQLite rewrites the whole record; the WAL copies whole pages). Apart,
-- the Item row the hot path rewrites is small, and finalization and result reads, which never need the
-- request, no longer page through it.
--
-- WITHOUT ROWID: the table is only ever read by its key (the claim's lookup per Item), so the key is the
-- table and a lookup is one b-tree descent instead of an index probe plus a rowid probe.
CREATE TABLE item_requests (
  batch_id TEXT    NOT NULL,
  idx      INTEGER NOT NULL,
  request  TEXT    NOT NULL,
  PRIMARY KEY (batch_id, idx)
) WITHOUT ROWID;

INSERT INTO item_requests (batch_id, idx, request) SELECT batch_id, idx, request FROM items;

-- Rewrites the items table once (SQLite drops a column by rewriting every row).
ALTER TABLE items DROP COLUMN request;
