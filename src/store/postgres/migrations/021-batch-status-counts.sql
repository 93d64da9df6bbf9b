-- 021: Batches by status (the dashboard's overview and the spool_batches gauge) as running counts. The count
-- read every entry of batches_live_status, which holds every Batch not deleted, finished ones included, and
-- grew with history. Triggers keep the counts in the transaction that changes a Batch's status (or deletes
-- it), as 019 does for Files, and spread over up to 16 rows per status by the writing connection's backend
-- pid, so processes changing Batches at once do not queue on one row (decision 0055); readers sum them.
CREATE TABLE batch_status_counts (
  status TEXT     NOT NULL,
  shard  SMALLINT NOT NULL,
  count  BIGINT   NOT NULL,
  PRIMARY KEY (status, shard)
);

CREATE FUNCTION count_batch_statuses() RETURNS trigger LANGUAGE plpgsql SET search_path FROM CURRENT AS $$
BEGIN
  IF TG_OP IN ('DELETE', 'UPDATE') AND OLD.deleted_at_ms IS NULL THEN
    INSERT INTO batch_status_counts (status, shard, count) VALUES (OLD.status, pg_backend_pid() % 16, -1)
    ON CONFLICT (status, shard) DO UPDATE SET count = batch_status_counts.count - 1;
  END IF;
  IF TG_OP IN ('INSERT', 'UPDATE') AND NEW.deleted_at_ms IS NULL THEN
    INSERT INTO batch_status_counts (status, shard, count) VALUES (NEW.status, pg_backend_pid() % 16, 1)
    ON CONFLICT (status, shard) DO UPDATE SET count = batch_status_counts.count + 1;
  END IF;
  RETURN NULL;
END
$$;

-- Before the backfill: CREATE TRIGGER locks batches against writes until this migration commits.
CREATE TRIGGER batches_count_insert AFTER INSERT OR DELETE ON batches FOR EACH ROW EXECUTE FUNCTION count_batch_statuses();
CREATE TRIGGER batches_count_update AFTER UPDATE OF status, deleted_at_ms ON batches FOR EACH ROW
WHEN (OLD.status IS DISTINCT FROM NEW.status OR OLD.deleted_at_ms IS DISTINCT FROM NEW.deleted_at_ms)
EXECUTE FUNCTION count_batch_statuses();

INSERT INTO batch_status_counts (status, shard, count) SELECT status, 0, COUNT(*) FROM batches WHERE deleted_at_ms IS NULL GROUP BY status;
