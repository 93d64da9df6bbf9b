-- 016: the Batch list filtered by Model (the dashboard's model filter) reads an index range in list order
-- instead of scanning every Batch ever made: 31 ms at 100k finished Batches, and growing (issue 11).
CREATE INDEX batches_model ON batches (model, seq);
