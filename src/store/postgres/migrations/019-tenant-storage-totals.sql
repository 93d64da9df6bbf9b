-- 019: what a tenant stores (its Files' count and bytes), kept as a running total. An upload under the
-- maxStoredBytes quota, and the tenants' overview, summed every File the tenant ever kept (44 ms at 100k
-- Files); the total is a few rows. Triggers keep it, so no path that writes or deletes a File (uploads,
-- result files, expiry, deletes, a Batch's media) can forget to, and it changes in the File's own
-- transaction.
--
-- Several processes write Files of one tenant at once (every result file of the default tenant, say), and
-- a row changed by a transaction stays locked until it commits: one row per tenant would queue their
-- commits behind each other. So each tenant's total is spread over up to 16 rows, picked by the writing
-- connection's backend pid; a reader sums them. A delete may land on another row than the File's insert
-- did: only the sum means anything.
CREATE TABLE tenant_storage (
  tenant TEXT     NOT NULL,
  shard  SMALLINT NOT NULL,
  files  BIGINT   NOT NULL,
  bytes  BIGINT   NOT NULL,
  PRIMARY KEY (tenant, shard)
);

-- `SET search_path FROM CURRENT`: the function works on this schema's tables whatever the search_path of
-- the session that writes a File (a maintenance script's plain connection, say).
CREATE FUNCTION count_tenant_storage() RETURNS trigger LANGUAGE plpgsql SET search_path FROM CURRENT AS $$
BEGIN
  IF TG_OP IN ('DELETE', 'UPDATE') THEN
    INSERT INTO tenant_storage (tenant, shard, files, bytes) VALUES (OLD.tenant, pg_backend_pid() % 16, -1, -OLD.bytes)
    ON CONFLICT (tenant, shard) DO UPDATE SET files = tenant_storage.files - 1, bytes = tenant_storage.bytes - OLD.bytes;
  END IF;
  IF TG_OP IN ('INSERT', 'UPDATE') THEN
    INSERT INTO tenant_storage (tenant, shard, files, bytes) VALUES (NEW.tenant, pg_backend_pid() % 16, 1, NEW.bytes)
    ON CONFLICT (tenant, shard) DO UPDATE SET files = tenant_storage.files + 1, bytes = tenant_storage.bytes + NEW.bytes;
  END IF;
  RETURN NULL;
END
$$;

-- The trigger before the backfill: CREATE TRIGGER locks files against writes until this migration commits,
-- so no File written by another process meanwhile is missed or counted twice.
CREATE TRIGGER files_count_storage AFTER INSERT OR DELETE OR UPDATE OF tenant, bytes ON files
FOR EACH ROW EXECUTE FUNCTION count_tenant_storage();

INSERT INTO tenant_storage (tenant, shard, files, bytes) SELECT tenant, 0, COUNT(*), SUM(bytes) FROM files GROUP BY tenant;
