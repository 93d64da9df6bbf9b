-- 015: results reused across Batches (issue 10 part 5; docs/decisions/0027-result-cache.md). A Model with
-- `resultCache` on keeps each successful result of a reusable request (one with a request hash, 004) here,
-- keyed by what makes two requests the same for a client: the tenant, the dialect its result is written in,
-- the Model, the kind and the request hash. startBatch gives a later Batch's identical Items a copy instead
-- of running them; the Sweeper deletes entries past their Model's maxAgeHours. A cache, not a record:
-- losing a row only costs a rerun.
CREATE TABLE result_cache (
  tenant        TEXT    NOT NULL,
  dialect       TEXT    NOT NULL,
  model         TEXT    NOT NULL,
  kind          TEXT    NOT NULL,
  request_hash  TEXT    NOT NULL,
  status_code   INTEGER NOT NULL,
  body          TEXT    NOT NULL,
  request_id    TEXT,
  -- What the result cost when it ran: a hit costs nothing, and these say what it saved.
  input_tokens  BIGINT  NOT NULL,
  output_tokens BIGINT  NOT NULL,
  created_at_ms BIGINT  NOT NULL,
  PRIMARY KEY (tenant, model, request_hash, dialect, kind)
);
-- The Sweeper's purge walks entries oldest first.
CREATE INDEX result_cache_age ON result_cache (created_at_ms);
