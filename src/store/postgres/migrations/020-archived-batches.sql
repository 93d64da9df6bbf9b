-- 020: an ended Batch's Items (each request and its result) are kept for a retention period after the
-- Batch was created (config retention.batchResults, 29 days by default as Anthropic keeps results), then
-- the Batch is archived and its Items deleted. Without it they stayed forever: about 1.5 KB an Item, a copy
-- of input and output files that themselves expire after 30 days.
-- archived_at_ms: when the Batch was archived; from then its results are gone to every reader.
-- items_purged: its Items are all deleted (the Sweeper deletes them a bounded number at a time).
ALTER TABLE batches ADD COLUMN archived_at_ms BIGINT;
ALTER TABLE batches ADD COLUMN items_purged BOOLEAN NOT NULL DEFAULT false;

-- Ended Batches not yet archived, oldest first: what the Sweeper looks at. Bounded by the Batches of one
-- retention period once the first archiving has caught up.
CREATE INDEX batches_to_archive ON batches (created_at_ms)
  WHERE archived_at_ms IS NULL AND status IN ('completed', 'failed', 'expired', 'cancelled');
-- Archived Batches whose Items are still being deleted.
CREATE INDEX batches_purging ON batches (archived_at_ms) WHERE archived_at_ms IS NOT NULL AND NOT items_purged;
