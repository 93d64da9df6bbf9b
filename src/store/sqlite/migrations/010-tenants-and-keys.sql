-- 010: tenants and their API keys (issue 13, decision 0021). Files and Batches belong to a tenant; rows written
-- before this migration belong to the default tenant, which is where config `apiKeys` land too, so an existing
-- deployment keeps seeing its own data. Keys are stored as the SHA-256 of the key (never the key itself):
-- they are long random tokens, so an unsalted digest cannot be reversed, and it can be looked up by equality.
CREATE TABLE tenants (
  name          TEXT   PRIMARY KEY,
  -- Quotas set through the admin API or the CLI (JSON); a tenant declared in the config file uses its own.
  quotas_json   TEXT,
  created_at_ms BIGINT NOT NULL
);

CREATE TABLE api_keys (
  id            TEXT   PRIMARY KEY,
  tenant        TEXT   NOT NULL REFERENCES tenants (name),
  role          TEXT   NOT NULL CHECK (role IN ('admin', 'member')),
  key_sha256    TEXT   NOT NULL UNIQUE,
  -- The first characters of the key, so people can tell their keys apart in `spool keys list`.
  key_hint      TEXT   NOT NULL,
  created_at_ms BIGINT NOT NULL,
  revoked_at_ms BIGINT
);

ALTER TABLE files ADD COLUMN tenant TEXT NOT NULL DEFAULT 'default';
ALTER TABLE batches ADD COLUMN tenant TEXT NOT NULL DEFAULT 'default';
CREATE INDEX files_tenant ON files (tenant, seq);
CREATE INDEX batches_tenant ON batches (tenant, seq);
