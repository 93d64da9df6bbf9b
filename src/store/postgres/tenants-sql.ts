/** Tenants, API keys (digests only), per-tenant usage and Idempotency-Key lookups (migrations 010, 011). */
import type { ApiKeyRecord, Quotas, TenantRecord, TenantUsage } from "../../core/tenancy.ts";
import type { Batch } from "../../core/types.ts";
import { toBatch, type BatchRow } from "../shared/row-mappers.ts";
import { LIVE_BATCH_STATUSES } from "../shared/batch-statuses-sql.ts";
import { API_KEY_COLUMNS, BATCH_TENANTS, toApiKeyRecord, toTenantRecord, type ApiKeyRow, type TenantRow } from "../shared/tenant-rows.ts";
import type { NewApiKey } from "../tenant-directory.ts";
import type { PostgresDatabase } from "./database.ts";

export async function ensureTenant(db: PostgresDatabase, name: string, nowMs: number): Promise<TenantRecord> {
  await db.query("INSERT INTO tenants (name, quotas_json, created_at_ms) VALUES ($1, NULL, $2) ON CONFLICT (name) DO NOTHING", [name, nowMs]);
  return (await getTenant(db, name)) as TenantRecord;
}

export async function setTenantQuotas(db: PostgresDatabase, name: string, quotas: Quotas | null, nowMs: number): Promise<TenantRecord> {
  const { rows } = await db.query<TenantRow>(
    `INSERT INTO tenants (name, quotas_json, created_at_ms) VALUES ($1, $2, $3)
     ON CONFLICT (name) DO UPDATE SET quotas_json = excluded.quotas_json RETURNING *`,
    [name, quotas === null ? null : JSON.stringify(quotas), nowMs],
  );
  return toTenantRecord(rows[0] as TenantRow);
}

export async function getTenant(db: PostgresDatabase, name: string): Promise<TenantRecord | null> {
  const { rows } = await db.query<TenantRow>("SELECT * FROM tenants WHERE name = $1", [name]);
  return rows[0] ? toTenantRecord(rows[0]) : null;
}

export async function listTenants(db: PostgresDatabase): Promise<TenantRecord[]> {
  const { rows } = await db.query<TenantRow>("SELECT * FROM tenants ORDER BY name");
  return rows.map(toTenantRecord);
}

export async function createApiKey(db: PostgresDatabase, key: NewApiKey): Promise<ApiKeyRecord> {
  const { rows } = await db.query<ApiKeyRow>(
    `INSERT INTO api_keys (id, tenant, role, key_sha256, key_hint, created_at_ms) VALUES ($1, $2, $3, $4, $5, $6) RETURNING ${API_KEY_COLUMNS}`,
    [key.id, key.tenant, key.role, key.sha256, key.hint, key.createdAtMs],
  );
  return toApiKeyRecord(rows[0] as ApiKeyRow);
}

export async function findApiKey(db: PostgresDatabase, sha256: string): Promise<ApiKeyRecord | null> {
  const { rows } = await db.query<ApiKeyRow>(`SELECT ${API_KEY_COLUMNS} FROM api_keys WHERE key_sha256 = $1`, [sha256]);
  return rows[0] ? toApiKeyRecord(rows[0]) : null;
}

export async function findApiKeyById(db: PostgresDatabase, id: string): Promise<(ApiKeyRecord & { sha256: string }) | null> {
  const { rows } = await db.query<ApiKeyRow & { key_sha256: string }>(`SELECT ${API_KEY_COLUMNS}, key_sha256 FROM api_keys WHERE id = $1`, [id]);
  const row = rows[0];
  return row ? { ...toApiKeyRecord(row), sha256: row.key_sha256 } : null;
}

export async function listApiKeys(db: PostgresDatabase, tenant: string | null): Promise<ApiKeyRecord[]> {
  const { rows } = await db.query<ApiKeyRow>(`SELECT ${API_KEY_COLUMNS} FROM api_keys WHERE ($1::text IS NULL OR tenant = $1) ORDER BY created_at_ms, id`, [tenant]);
  return rows.map(toApiKeyRecord);
}

export async function revokeApiKey(db: PostgresDatabase, id: string, nowMs: number): Promise<ApiKeyRecord | null> {
  const { rows } = await db.query<ApiKeyRow>(`UPDATE api_keys SET revoked_at_ms = COALESCE(revoked_at_ms, $1) WHERE id = $2 RETURNING ${API_KEY_COLUMNS}`, [nowMs, id]);
  return rows[0] ? toApiKeyRecord(rows[0]) : null;
}

export async function countApiKeys(db: PostgresDatabase): Promise<number> {
  const { rows } = await db.query<{ n: number }>("SELECT COUNT(*)::int AS n FROM api_keys");
  return Number(rows[0]?.n ?? 0);
}

/** As in the SQLite Store: Batch counters past validation, the count its create made for a Batch still validating. */
export async function tenantUsage(db: PostgresDatabase, tenant: string): Promise<TenantUsage> {
  return usageOf(db, tenant, true);
}

/** The tenant's live Batches alone (see TenantDirectory.tenantLiveWork). */
export async function tenantLiveWork(db: PostgresDatabase, tenant: string): Promise<Pick<TenantUsage, "queuedItems" | "batchesInProgress">> {
  const { queuedItems, batchesInProgress } = await usageOf(db, tenant, false);
  return { queuedItems, batchesInProgress };
}

async function usageOf(db: PostgresDatabase, tenant: string, withFiles: boolean): Promise<TenantUsage> {
  const files = withFiles
    ? // The running total migration 019's triggers keep (a few rows per tenant), not a sum over its Files.
      `(SELECT COALESCE(SUM(files), 0)::text FROM tenant_storage WHERE tenant = $1) AS files, (SELECT COALESCE(SUM(bytes), 0)::text FROM tenant_storage WHERE tenant = $1) AS bytes,`
    : "0 AS files, '0' AS bytes,";
  const { rows } = await db.query<{ files: number | string; bytes: string; batches: number; queued: string }>(
    `SELECT ${files}
            (SELECT COUNT(*)::int FROM batches WHERE tenant = $1 AND status IN ${LIVE_BATCH_STATUSES}) AS batches,
            (SELECT COALESCE(SUM(CASE WHEN status = 'validating'
                                      THEN COALESCE((options_json::jsonb ->> 'requestCount')::bigint, (options_json::jsonb ->> 'expectedItems')::bigint, 0)
                                      ELSE total_items - succeeded_items - failed_items - cancelled_items - expired_items END), 0)::text
               FROM batches WHERE tenant = $1 AND status IN ${LIVE_BATCH_STATUSES}) AS queued`,
    [tenant],
  );
  const row = rows[0];
  return {
    tenant,
    files: Number(row?.files ?? 0),
    storedBytes: Number(row?.bytes ?? 0),
    queuedItems: Number(row?.queued ?? 0),
    batchesInProgress: Number(row?.batches ?? 0),
  };
}

/** Every tenant with a key, Files, or Batches (the Batches' by skipping through an index: BATCH_TENANTS). */
export async function tenantNames(db: PostgresDatabase): Promise<string[]> {
  const { rows } = await db.query<{ name: string }>(`SELECT name FROM tenants UNION SELECT tenant FROM tenant_storage GROUP BY tenant HAVING SUM(files) > 0 UNION ${BATCH_TENANTS} ORDER BY 1`);
  return rows.map((row) => row.name);
}

export async function findBatchByIdempotencyKey(db: PostgresDatabase, tenant: string, key: string): Promise<(Batch & { requestDigest: string | null }) | null> {
  const { rows } = await db.query<BatchRow>("SELECT * FROM batches WHERE tenant = $1 AND idempotency_key = $2", [tenant, key]);
  const row = rows[0];
  return row ? { ...toBatch(row), requestDigest: row.request_digest } : null;
}
