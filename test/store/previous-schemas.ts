/**
 * Turns a database migrated by this code back into what an older spool wrote, rows kept, so upgrade tests
 * run the real migrations on a data dir (or schema) "made by the previous schema" with work in flight.
 * One undo per migration, newest first; both stores share the SQL where the statements are portable.
 */
type Backend = "sqlite" | "postgres";

const UNDO: Record<number, string | Record<Backend, string>> = {
  22: "ALTER TABLE batches DROP COLUMN results_writer; ALTER TABLE batches DROP COLUMN results_writer_until_ms;",
  21: {
    sqlite: "DROP TRIGGER batches_count_insert; DROP TRIGGER batches_count_update; DROP TRIGGER batches_count_delete; DROP TABLE batch_status_counts;",
    postgres: "DROP TRIGGER batches_count_insert ON batches; DROP TRIGGER batches_count_update ON batches; DROP FUNCTION count_batch_statuses(); DROP TABLE batch_status_counts;",
  },
  20: "DROP INDEX batches_purging; DROP INDEX batches_to_archive; ALTER TABLE batches DROP COLUMN items_purged; ALTER TABLE batches DROP COLUMN archived_at_ms;",
  19: {
    sqlite: "DROP TRIGGER files_count_insert; DROP TRIGGER files_count_delete; DROP TRIGGER files_count_update; DROP TABLE tenant_storage;",
    postgres: "DROP TRIGGER files_count_storage ON files; DROP FUNCTION count_tenant_storage(); DROP TABLE tenant_storage;",
  },
  18: "DROP INDEX files_by_expiry;",
  17: "DROP INDEX batches_live_by_tenant;",
  16: "DROP INDEX batches_model;",
  15: "DROP TABLE result_cache;",
  14: `DROP TABLE capacity_shares;
       CREATE TABLE capacity_shares (model TEXT NOT NULL, owner TEXT NOT NULL, wants INTEGER NOT NULL CHECK (wants IN (0, 1)), seen_at_ms BIGINT NOT NULL, PRIMARY KEY (model, owner));`,
  12: "ALTER TABLE batches DROP COLUMN charged_nano_usd; ALTER TABLE batches DROP COLUMN charged_list_nano_usd;",
  11: "DROP INDEX batches_idempotency_key; ALTER TABLE batches DROP COLUMN idempotency_key; ALTER TABLE batches DROP COLUMN request_digest;",
  10: `DROP INDEX files_tenant; DROP INDEX batches_tenant; ALTER TABLE files DROP COLUMN tenant; ALTER TABLE batches DROP COLUMN tenant;
       DROP TABLE api_keys; DROP TABLE tenants;`,
  9: "DROP TABLE capacity_shares;",
  8: "DROP TABLE model_throughput;",
  7: {
    sqlite: "DROP INDEX batches_live_status; DROP TRIGGER batches_queue_webhooks; DROP TABLE webhook_deliveries; DROP TABLE webhook_endpoints;",
    postgres: "DROP INDEX batches_live_status; DROP TRIGGER batches_queue_webhooks ON batches; DROP FUNCTION queue_batch_webhooks(); DROP TABLE webhook_deliveries; DROP TABLE webhook_endpoints;",
  },
  6: {
    sqlite: `ALTER TABLE batches RENAME COLUMN dialect TO dialect_after_006;
             ALTER TABLE batches ADD COLUMN dialect TEXT NOT NULL DEFAULT 'openai' CHECK (dialect IN ('openai', 'gemini'));
             UPDATE batches SET dialect = dialect_after_006;
             ALTER TABLE batches DROP COLUMN dialect_after_006;`,
    postgres: `ALTER TABLE batches DROP CONSTRAINT batches_dialect_check;
               ALTER TABLE batches ADD CONSTRAINT batches_dialect_check CHECK (dialect IN ('openai', 'gemini'));`,
  },
  5: `ALTER TABLE items ADD COLUMN request TEXT NOT NULL DEFAULT '';
      UPDATE items SET request = (SELECT r.request FROM item_requests r WHERE r.batch_id = items.batch_id AND r.idx = items.idx);
      DROP TABLE item_requests;`,
  4: `DROP INDEX items_waiting_followers;
      DROP INDEX items_pending;
      ALTER TABLE items DROP COLUMN prefix_key;
      ALTER TABLE items DROP COLUMN request_hash;
      ALTER TABLE items DROP COLUMN claim_pos;
      ALTER TABLE items DROP COLUMN leader_idx;
      ALTER TABLE items DROP COLUMN follower_count;
      ALTER TABLE batches DROP COLUMN reused_items;
      CREATE INDEX items_pending ON items (model, batch_seq, idx) WHERE status = 'pending';`,
  3: "ALTER TABLE items RENAME COLUMN client_id TO custom_id;",
};

/** SQL that undoes every migration from `fromId` on (newest first) and removes them from the ledger. */
export function undoMigrationsSql(fromId: number, backend: Backend = "sqlite"): string {
  const ids = Object.keys(UNDO).map(Number).filter((id) => id >= fromId).sort((a, b) => b - a);
  const sqlOf = (undo: string | Record<Backend, string> | undefined): string => (typeof undo === "object" ? undo[backend] : (undo ?? ""));
  return `${ids.map((id) => sqlOf(UNDO[id])).join("\n")}\nDELETE FROM migrations WHERE id >= ${fromId};`;
}
