-- 011: idempotent Batch create (issue 13). A create carrying an `Idempotency-Key` header records the key and a
-- digest of what it asked for; the same key again returns that Batch, or is refused when the request differs.
-- Unique per tenant, so two creates racing with one key make one Batch (the loser reads the winner's).
ALTER TABLE batches ADD COLUMN idempotency_key TEXT;
ALTER TABLE batches ADD COLUMN request_digest TEXT;
CREATE UNIQUE INDEX batches_idempotency_key ON batches (tenant, idempotency_key) WHERE idempotency_key IS NOT NULL;
