-- 005: request payloads apart from Item status (issue 11; decision 0011).
-- Mirrors src/store/sqlite/migrations/005-item-requests-apart.sql.
--
-- PostgreSQL writes a whole new row version for every UPDATE: with the request in the Item row, each claim,
-- completion and Lease renewal copied the request text again (and left a dead copy for VACUUM). Apart, the
-- Item row the hot path rewrites is small; the request is written once and read by the claim's join.
CREATE TABLE item_requests (
  batch_id TEXT    NOT NULL,
  idx      INTEGER NOT NULL,
  request  TEXT    NOT NULL,
  PRIMARY KEY (batch_id, idx)
);

INSERT INTO item_requests (batch_id, idx, request) SELECT batch_id, idx, request FROM items;

-- No rewrite: PostgreSQL only marks the column dropped; the space is reclaimed as rows are next rewritten.
ALTER TABLE items DROP COLUMN request;
