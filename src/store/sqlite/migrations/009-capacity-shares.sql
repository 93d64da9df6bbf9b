-- 009: the capacity ledger (issue 12; src/store/capacity-ledger.ts). One row per (Model, process): whether the
-- process has requests for the Model, and when it last said so. Processes split a Model's configured
-- concurrency among the live rows that want it. Numbered 009: 005-008 are other changes.
CREATE TABLE capacity_shares (
  model      TEXT    NOT NULL,
  owner      TEXT    NOT NULL,
  wants      INTEGER NOT NULL CHECK (wants IN (0, 1)),
  seen_at_ms BIGINT  NOT NULL,
  PRIMARY KEY (model, owner)
);
