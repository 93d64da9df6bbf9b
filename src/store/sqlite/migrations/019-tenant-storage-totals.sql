-- 019: what a tenant stores (its Files' count and bytes), kept as a running total. An upload under the
-- maxStoredBytes quota, and the tenants' overview, summed every File the tenant ever kept (13.9 ms at 100k
-- Files); the total is one row. Triggers keep it, so no path that writes or deletes a File (uploads, result
-- files, expiry, deletes, a Batch's media) can forget to, and it changes in the File's own transaction.
CREATE TABLE tenant_storage (
  tenant TEXT    NOT NULL PRIMARY KEY,
  files  INTEGER NOT NULL,
  bytes  INTEGER NOT NULL
);

INSERT INTO tenant_storage (tenant, files, bytes) SELECT tenant, COUNT(*), SUM(bytes) FROM files GROUP BY tenant;

CREATE TRIGGER files_count_insert AFTER INSERT ON files
BEGIN
  INSERT INTO tenant_storage (tenant, files, bytes) VALUES (NEW.tenant, 1, NEW.bytes)
  ON CONFLICT (tenant) DO UPDATE SET files = files + 1, bytes = bytes + excluded.bytes;
END;

CREATE TRIGGER files_count_delete AFTER DELETE ON files
BEGIN
  UPDATE tenant_storage SET files = files - 1, bytes = bytes - OLD.bytes WHERE tenant = OLD.tenant;
END;

-- No code path changes a File's size or owner today; if one ever does, the total follows.
CREATE TRIGGER files_count_update AFTER UPDATE OF tenant, bytes ON files
BEGIN
  UPDATE tenant_storage SET files = files - 1, bytes = bytes - OLD.bytes WHERE tenant = OLD.tenant;
  INSERT INTO tenant_storage (tenant, files, bytes) VALUES (NEW.tenant, 1, NEW.bytes)
  ON CONFLICT (tenant) DO UPDATE SET files = files + 1, bytes = bytes + excluded.bytes;
END;
