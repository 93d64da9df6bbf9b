-- 017: a tenant's usage (read by the quota checks of every upload and create) counted its live Batches
-- through the tenant's index, so it read every Batch the tenant ever had: 17 ms at 100k finished Batches,
-- on the Store's thread, per create. The live ones get an index of their own (the query's status list is
-- this WHERE's, word for word, so the planner can use it).
CREATE INDEX batches_live_by_tenant ON batches (tenant) WHERE status IN ('validating', 'in_progress', 'finalizing', 'cancelling');
