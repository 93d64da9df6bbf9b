-- 007: webhooks (issue 14; docs/decisions/0014-webhooks-metrics-dashboard.md). Mirrors
-- src/store/sqlite/migrations/007-webhook-deliveries.sql, which explains the tables. Numbered 007: 005 and
-- 006 are other changes being written at the same time.
CREATE TABLE webhook_endpoints (
  url           TEXT    PRIMARY KEY,
  active        BOOLEAN NOT NULL,
  updated_at_ms BIGINT  NOT NULL
);

CREATE TABLE webhook_deliveries (
  seq                 BIGSERIAL PRIMARY KEY,
  id                  TEXT    NOT NULL UNIQUE,
  batch_id            TEXT    NOT NULL,
  event               TEXT    NOT NULL CHECK (event IN ('completed', 'failed', 'expired', 'cancelled')),
  endpoint_url        TEXT    NOT NULL,
  status              TEXT    NOT NULL CHECK (status IN ('pending', 'delivered', 'failed')),
  attempts            INTEGER NOT NULL DEFAULT 0,
  next_attempt_at_ms  BIGINT  NOT NULL,
  lease_owner         TEXT,
  lease_expires_at_ms BIGINT,
  last_status_code    INTEGER,
  last_error          TEXT,
  last_attempt_at_ms  BIGINT,
  created_at_ms       BIGINT  NOT NULL,
  delivered_at_ms     BIGINT
);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (next_attempt_at_ms) WHERE status = 'pending';
CREATE INDEX webhook_deliveries_batch ON webhook_deliveries (batch_id, seq);

-- Tables are named unqualified: the function runs with the connection's search_path (the store's schema).
CREATE FUNCTION queue_batch_webhooks() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO webhook_deliveries (id, batch_id, event, endpoint_url, status, next_attempt_at_ms, created_at_ms)
  SELECT 'evt_' || replace(gen_random_uuid()::text, '-', ''), NEW.id, NEW.status, url, 'pending', NEW.updated_at_ms, NEW.updated_at_ms
  FROM webhook_endpoints WHERE active;
  RETURN NULL;
END
$$;

CREATE TRIGGER batches_queue_webhooks AFTER UPDATE OF status ON batches FOR EACH ROW
WHEN (NEW.status IN ('completed', 'failed', 'expired', 'cancelled') AND OLD.status IS DISTINCT FROM NEW.status)
EXECUTE FUNCTION queue_batch_webhooks();

-- Batches by status (the dashboard's chips, the spool_batches gauge) without reading every row: a small
-- index of the live Batches' statuses, changed only when a Batch changes status.
CREATE INDEX batches_live_status ON batches (status) WHERE deleted_at_ms IS NULL;
