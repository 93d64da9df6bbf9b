-- 001: files, batches, items, blob contents. Append-only: never edit a migration that has shipped; add
-- 002-... instead. Column names and meanings mirror src/store/sqlite/migrations/001-initial.sql (both
-- stores map rows with the same code); the differences are PostgreSQL types:
-- - times are BIGINT epoch milliseconds from the injected clock (never now() in SQL);
-- - seq columns are identities (FIFO order, never reused, gaps allowed);
-- - JSON is kept as TEXT, not JSONB: clients get their metadata back byte for byte (JSONB reorders keys
--   and drops duplicates), and nothing queries inside it.
-- Status lists mirror BATCH_STATUSES / ITEM_STATUSES in src/store/store.ts.

CREATE TABLE files (
  seq           BIGINT  GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  id            TEXT    NOT NULL UNIQUE,
  purpose       TEXT    NOT NULL,
  filename      TEXT    NOT NULL,
  display_name  TEXT,
  mime_type     TEXT,
  bytes         BIGINT  NOT NULL CHECK (bytes >= 0),
  sha256        TEXT    NOT NULL,
  source        TEXT    NOT NULL CHECK (source IN ('uploaded', 'generated')),
  created_at_ms BIGINT  NOT NULL,
  expires_at_ms BIGINT
);
CREATE INDEX files_purpose_seq ON files (purpose, seq);

CREATE TABLE batches (
  -- Claim order (oldest Batch first) and list order (newest first).
  seq                 BIGINT  GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
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
  total_items         BIGINT  NOT NULL DEFAULT 0,
  succeeded_items     BIGINT  NOT NULL DEFAULT 0,
  failed_items        BIGINT  NOT NULL DEFAULT 0,
  cancelled_items     BIGINT  NOT NULL DEFAULT 0,
  expired_items       BIGINT  NOT NULL DEFAULT 0,
  input_tokens        BIGINT  NOT NULL DEFAULT 0,
  output_tokens       BIGINT  NOT NULL DEFAULT 0,
  display_name        TEXT,
  metadata_json       TEXT,
  options_json        TEXT    NOT NULL DEFAULT '{}',
  priority            INTEGER NOT NULL DEFAULT 0,
  -- The validation or finalization Lease (Items have their own).
  lease_owner         TEXT,
  lease_expires_at_ms BIGINT,
  created_at_ms       BIGINT  NOT NULL,
  updated_at_ms       BIGINT  NOT NULL,
  expires_at_ms       BIGINT  NOT NULL,
  in_progress_at_ms   BIGINT,
  finalizing_at_ms    BIGINT,
  completed_at_ms     BIGINT,
  failed_at_ms        BIGINT,
  expired_at_ms       BIGINT,
  cancelling_at_ms    BIGINT,
  cancelled_at_ms     BIGINT,
  deleted_at_ms       BIGINT
);
-- The Sweeper's scans (validating, in_progress past expiry, cancelling, finalizing) touch few rows per status.
CREATE INDEX batches_status_seq ON batches (status, seq);

-- No foreign key to batches (the SQLite schema has one): PostgreSQL checks it with a trigger per inserted
-- row, which doubled the cost of ingesting a large Batch (measured: 50k Items 1.4 s -> 3.0 s). insertItems
-- checks the Batch in the transaction that inserts, and Batches are never hard-deleted.
CREATE TABLE items (
  batch_id            TEXT    NOT NULL,
  idx                 INTEGER NOT NULL CHECK (idx >= 0),
  -- Copy of batches.seq so the claim is one index scan with no join.
  batch_seq           BIGINT  NOT NULL,
  custom_id           TEXT,
  echo                TEXT,
  model               TEXT    NOT NULL,
  kind                TEXT    NOT NULL CHECK (kind IN ('chat', 'completion', 'embedding')),
  request             TEXT    NOT NULL,
  status              TEXT    NOT NULL CHECK (status IN ('staged', 'pending', 'running', 'succeeded', 'failed', 'cancelled', 'expired')),
  attempts            INTEGER NOT NULL DEFAULT 0,
  lease_owner         TEXT,
  lease_expires_at_ms BIGINT,
  -- ItemResult; finished_at_ms IS NOT NULL means a result is present.
  status_code         INTEGER,
  body                TEXT,
  error_code          TEXT,
  error_message       TEXT,
  request_id          TEXT,
  input_tokens        BIGINT  NOT NULL DEFAULT 0,
  output_tokens       BIGINT  NOT NULL DEFAULT 0,
  finished_at_ms      BIGINT,
  PRIMARY KEY (batch_id, idx)
);
-- The claim queue: only pending rows, in claim order per Model. A claim reads `limit` entries of this
-- index; finished Items (the vast majority over time) are not in it at all.
CREATE INDEX items_pending ON items (model, batch_seq, idx) WHERE status = 'pending';
-- Running Items are few (bounded by Worker concurrency): lease renewal and release by owner, reclaim of
-- expired Leases and "does this Batch still have running Items?" all read these small indexes.
-- lease_expires_at_ms is deliberately in no index: the heartbeat rewrites it for every running Item every
-- leaseMs / 3, and an update that touches no indexed column can be HOT (no index writes at all).
CREATE INDEX items_running ON items (lease_owner) WHERE status = 'running';
CREATE INDEX items_running_batch ON items (batch_id) WHERE status = 'running';
-- A queue table: rows turn over fast, and dead entries at the head of items_pending slow every claim
-- until vacuum removes them. Vacuum after 2% of rows changed instead of the default 20%.
ALTER TABLE items SET (autovacuum_vacuum_scale_factor = 0.02, autovacuum_analyze_scale_factor = 0.02, fillfactor = 90);

-- ---- BlobStore (src/store/blob/postgres-blob-store.ts) ----
-- A blob is readable only through its `blobs` row, which points at the upload that wrote it. An upload
-- writes its chunks under its own id while nothing points at it; commit swaps the pointer in one
-- transaction, so readers see the old contents or the new, never a half-written or mixed blob.
-- blob_uploads lists the uploads no key points at: in progress (or abandoned by a dead process), and
-- retired ones (replaced or deleted) whose chunks are kept a while for readers that already started.
CREATE TABLE blob_uploads (
  upload_id     TEXT    PRIMARY KEY,
  key           TEXT    NOT NULL,
  -- Wall-clock bookkeeping, only to decide when leftover chunks may go.
  started_at_ms BIGINT  NOT NULL,
  retired_at_ms BIGINT
);

CREATE TABLE blob_chunks (
  upload_id  TEXT    NOT NULL,
  seq        INTEGER NOT NULL CHECK (seq >= 0),
  -- Offset of the chunk's first byte in the blob, so a range read starts at the right chunk.
  first_byte BIGINT  NOT NULL CHECK (first_byte >= 0),
  data       BYTEA   NOT NULL,
  PRIMARY KEY (upload_id, seq)
);

CREATE TABLE blobs (
  key          TEXT    PRIMARY KEY,
  upload_id    TEXT    NOT NULL UNIQUE,
  bytes        BIGINT  NOT NULL CHECK (bytes >= 0),
  sha256       TEXT    NOT NULL
);
