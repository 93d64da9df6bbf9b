-- 022: who writes a running Batch's result files early (decision 0061). The process holding this Lease is
-- the one that finalizes the Batch while the Lease lasts, so the files it wrote are used, whichever
-- process records the last result; an expired Lease (its process died) is free again.
ALTER TABLE batches ADD COLUMN results_writer TEXT;
ALTER TABLE batches ADD COLUMN results_writer_until_ms BIGINT;
