-- 014: the capacity ledger holds slots (issue 12; src/store/capacity-ledger.ts). 009 recorded only whether a
-- process wanted a Model, and each process derived its share from counts that were up to a beat old: two
-- processes could both take the whole budget for a moment. Now each row says how many slots the process
-- would use (demand) and how many it holds (held); beats run one at a time and never hand out more than the
-- Model's concurrency. The rows are heartbeats, rewritten every second: nothing is lost by starting afresh.
-- Numbered 014: 010-013 are other changes written side by side.
DROP TABLE capacity_shares;
CREATE TABLE capacity_shares (
  model      TEXT    NOT NULL,
  owner      TEXT    NOT NULL,
  demand     INTEGER NOT NULL CHECK (demand >= 0),
  held       INTEGER NOT NULL CHECK (held >= 0),
  seen_at_ms BIGINT  NOT NULL,
  PRIMARY KEY (model, owner)
);
