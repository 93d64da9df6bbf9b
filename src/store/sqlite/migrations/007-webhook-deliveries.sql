-- 007: webhooks (issue 14; docs/decisions/0014-webhooks-metrics-dashboard.md). Numbered 007: 005 and 006 are
-- other changes being written at the same time.
--
-- webhook_endpoints: the configured endpoints (config `webhooks`), written at start-up by syncWebhookEndpoints.
-- Only URLs are stored; secrets stay in the config and are looked up when a delivery is sent.
-- webhook_deliveries: the outbox. A Batch reaching a final status queues one delivery per active endpoint,
-- in the same transaction as the status change (the trigger below), so no code path that ends a Batch can
-- forget to, and a crash between the change and the queueing cannot lose the event. Deliveries are claimed
-- under a Lease like Items, retried on the configured schedule, and kept as the delivery log.
CREATE TABLE webhook_endpoints (
  url           TEXT    PRIMARY KEY,
  active        INTEGER NOT NULL CHECK (active IN (0, 1)),
  updated_at_ms INTEGER NOT NULL
);

CREATE TABLE webhook_deliveries (
  seq                 INTEGER PRIMARY KEY AUTOINCREMENT,
  -- The event id (`evt_...`): the body's id and the Standard Webhooks `webhook-id`, the same on every attempt.
  id                  TEXT    NOT NULL UNIQUE,
  batch_id            TEXT    NOT NULL,
  -- The final status the Batch reached; each dialect names the event (OpenAI: batch.<status>).
  event               TEXT    NOT NULL CHECK (event IN ('completed', 'failed', 'expired', 'cancelled')),
  endpoint_url        TEXT    NOT NULL,
  status              TEXT    NOT NULL CHECK (status IN ('pending', 'delivered', 'failed')),
  attempts            INTEGER NOT NULL DEFAULT 0,
  next_attempt_at_ms  INTEGER NOT NULL,
  lease_owner         TEXT,
  lease_expires_at_ms INTEGER,
  last_status_code    INTEGER,
  last_error          TEXT,
  last_attempt_at_ms  INTEGER,
  created_at_ms       INTEGER NOT NULL,
  delivered_at_ms     INTEGER
);
-- Due deliveries, oldest first; only pending rows are in it.
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (next_attempt_at_ms) WHERE status = 'pending';
-- The delivery log of one Batch (dashboard).
CREATE INDEX webhook_deliveries_batch ON webhook_deliveries (batch_id, seq);

-- The event time is the transition's own updated_at_ms (the injected clock's), never the database's clock.
-- `UPDATE OF status`: the counter updates of the hot path do not set status and never fire it.
CREATE TRIGGER batches_queue_webhooks AFTER UPDATE OF status ON batches
WHEN NEW.status IN ('completed', 'failed', 'expired', 'cancelled') AND OLD.status <> NEW.status
BEGIN
  INSERT INTO webhook_deliveries (id, batch_id, event, endpoint_url, status, next_attempt_at_ms, created_at_ms)
  SELECT 'evt_' || lower(hex(randomblob(12))), NEW.id, NEW.status, url, 'pending', NEW.updated_at_ms, NEW.updated_at_ms
  FROM webhook_endpoints WHERE active = 1;
END;

-- Batches by status (the dashboard's chips, the spool_batches gauge) without reading every row: a small
-- index of the live Batches' statuses, changed only when a Batch changes status.
CREATE INDEX batches_live_status ON batches (status) WHERE deleted_at_ms IS NULL;
