-- 001: files, batches, items. Append-only: never edit a migration that has shipped; add 002-... instead.
-- Times are epoch milliseconds from the injected clock (never now() in SQL). Status lists mirror
-- BATCH_STATUSES / ITEM_STATUSES in src/store/store.ts (a test checks they agree).

CREATE TABLE files (
  -- Insertion order for listing; AUTOINCREMENT so a deleted last row's seq is never reused by the next file.
  seq           INTEGER PRIMARY KEY AUTOINCREMENT,
  id            TEXT    NOT NULL UNIQUE,
  purpose       TEXT    NOT NULL,
  filename      TEXT    NOT NULL,
  display_name  TEXT,
  mime_type     TEXT,
  bytes         INTEGER NOT NULL CHECK (bytes >= 0),
  sha256        TEXT    NOT NULL,
  source        TEXT    NOT NULL CHECK (source IN ('uploaded', 'generated')),
  created_at_ms INTEGER NOT NULL,
  expires_at_ms INTEGER
);
CREATE INDEX files_purpose_seq ON files (purpose, seq);

CREATE TABLE batches (
  -- Claim order (oldest Batch first) and list order (newest first); never reused.
  seq                 INTEGER PRIMARY KEY AUTOINCREMENT,
  id                  TEXT    NOT NULL UNIQUE,
  dialect             TEXT    NOT NULL CHECK (dialect IN ('openai', 'gemini')),
  kind                TEXT    NOT NULL CHECK (kind IN ('chat', 'completion', 'embedding')),
  endpoint            TEXT    NOT NULL,
  model               TEXT,
  status              TEXT    NOT NULL CHECK (status IN ('validating', 'in_progress', 'finalizing', 'completed', 'failed', 'expired', 'cancelling', 'cancelled')),
  -- What a finalizing Batch will end as; kept so an interrupted finalization is redone with the same outcome.
  finalizing_as       TEXT    CHECK (finalizing_as IN ('completed', 'expired', 'cancelled')),
  input_file_id       TEXT,
  output_file_id      TEXT,
  error_file_id       TEXT,
  invalid_line_policy TEXT    NOT NULL CHECK (invalid_line_policy IN ('fail', 'skip')),
  errors_json         TEXT,
  -- Counters, always changed in the same transaction as the Items they count.
  total_items         INTEGER NOT NULL DEFAULT 0,
  succeeded_items     INTEGER NOT NULL DEFAULT 0,
  failed_items        INTEGER NOT NULL DEFAULT 0,
  cancelled_items     INTEGER NOT NULL DEFAULT 0,
  expired_items       INTEGER NOT NULL DEFAULT 0,
  input_tokens        INTEGER NOT NULL DEFAULT 0,
  output_tokens       INTEGER NOT NULL DEFAULT 0,
  display_name        TEXT,
  metadata_json       TEXT,
  options_json        TEXT    NOT NULL DEFAULT '{}',
  priority            INTEGER NOT NULL DEFAULT 0,
  -- The validation or finalization Lease (Items have their own).
  lease_owner         TEXT,
  lease_expires_at_ms INTEGER,
  created_at_ms       INTEGER NOT NULL,
  updated_at_ms       INTEGER NOT NULL,
  expires_at_ms       INTEGER NOT NULL,
  in_progress_at_ms   INTEGER,
  finalizing_at_ms    INTEGER,
  completed_at_ms     INTEGER,
  failed_at_ms        INTEGER,
  expired_at_ms       INTEGER,
  cancelling_at_ms    INTEGER,
  cancelled_at_ms     INTEGER,
  deleted_at_ms       INTEGER
);
-- The Sweeper's scans (validating, in_progress past expiry, cancelling, finalizing) touch few rows per status.
CREATE INDEX batches_status_seq ON batches (status, seq);

CREATE TABLE items (
  batch_id            TEXT    NOT NULL REFERENCES batches (id),
  idx                 INTEGER NOT NULL CHECK (idx >= 0),
  -- Copy of batches.seq so the claim is one index scan with no join.
  batch_seq           INTEGER NOT NULL,
  custom_id           TEXT,
  echo                TEXT,
  model               TEXT    NOT NULL,
  kind                TEXT    NOT NULL CHECK (kind IN ('chat', 'completion', 'embedding')),
  request             TEXT    NOT NULL,
  status              TEXT    NOT NULL CHECK (status IN ('staged', 'pending', 'running', 'succeeded', 'failed', 'cancelled', 'expired')),
  attempts            INTEGER NOT NULL DEFAULT 0,
  lease_owner         TEXT,
  lease_expires_at_ms INTEGER,
  -- ItemResult; finished_at_ms IS NOT NULL means a result is present.
  status_code         INTEGER,
  body                TEXT,
  error_code          TEXT,
  error_message       TEXT,
  request_id          TEXT,
  input_tokens        INTEGER NOT NULL DEFAULT 0,
  output_tokens       INTEGER NOT NULL DEFAULT 0,
  finished_at_ms      INTEGER,
  PRIMARY KEY (batch_id, idx)
);
-- The claim queue: only pending rows, in claim order per Model. Covering for the claim's subquery
-- (model, batch_seq, idx, rowid), so a claim reads `limit` index entries and nothing else.
CREATE INDEX items_pending ON items (model, batch_seq, idx) WHERE status = 'pending';
-- Running Items are few (bounded by Worker concurrency): one small index serves lease renewal, reclaim of
-- expired Leases and "does this Batch still have running Items?".
CREATE INDEX items_running ON items (batch_id, lease_expires_at_ms) WHERE status = 'running';
