-- 018: every sweep (once per sweepMs, and after events such as a Batch created) looks for Files past their
-- expiry, and found them by reading every File ever stored: a whole-table scan, on the Store's thread,
-- that grows with every upload and result file kept. Files that expire get an index in expiry order.
CREATE INDEX files_by_expiry ON files (expires_at_ms) WHERE expires_at_ms IS NOT NULL;
