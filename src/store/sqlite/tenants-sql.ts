/** Tenants, API keys (digests only), per-tenant usage and Idempotency-Key lookups (migrations 010, 011). */
import type { ApiKeyRecord, Quotas, TenantRecord, TenantUsage } from "../../core/tenancy.ts";
import type { Batch } from "../../core/types.ts";
import { toBatch, type BatchRow } from "../shared/row-mappers.ts";
import { LIVE_BATCH_STATUSES } from "../shared/batch-statuses-sql.ts";
import { API_KEY_COLUMNS, BATCH_TENANTS, toApiKeyRecord, toTenantRecord, type ApiKeyRow, type TenantRow } from "../shared/tenant-rows.ts";
import type { NewApiKey } from "../tenant-directory.ts";
import type { SqliteDatabase } from "./database.ts";

export function ensureTenant(db: SqliteDatabase, name: string, nowMs: number): TenantRecord {
  return db.immediate(() => {
    db.statement("INSERT INTO tenants (name, quotas_json, created_at_ms) VALUES (?, NULL, ?) ON CONFLICT (name) DO NOTHING").run(name, nowMs);
    return getTenant(db, name) as TenantRecord;
  });
}

export function setTenantQuotas(db: SqliteDatabase, name: string, quotas: Quotas | null, nowMs: number): TenantRecord {
  const row = db.writeReturning<TenantRow>(
    `INSERT INTO tenants (name, quotas_json, created_at_ms) VALUES (?, ?, ?)
     ON CONFLICT (name) DO UPDATE SET quotas_json = excluded.quotas_json RETURNING *`,
    name, quotas === null ? null : JSON.stringify(quotas), nowMs,
  );
  return toTenantRecord(row as TenantRow);
}

export function getTenant(db: SqliteDatabase, name: string): TenantRecord | null {
  const row = db.statement("SELECT * FROM tenants WHERE name = ?").get(name) as TenantRow | undefined;
  return row ? toTenantRecord(row) : null;
}

export function listTenants(db: SqliteDatabase): TenantRecord[] {
  return (db.statement("SELECT * FROM tenants ORDER BY name").all() as TenantRow[]).map(toTenantRecord);
}

export function createApiKey(db: SqliteDatabase, key: NewApiKey): ApiKeyRecord {
  const row = db.writeReturning<ApiKeyRow>(
    `INSERT INTO api_keys (id, tenant, role, key_sha256, key_hint, created_at_ms) VALUES (?, ?, ?, ?, ?, ?) RETURNING ${API_KEY_COLUMNS}`,
    key.id, key.tenant, key.role, key.sha256, key.hint, key.createdAtMs,
  );
  return toApiKeyRecord(row as ApiKeyRow);
}

export function findApiKey(db: SqliteDatabase, sha256: string): ApiKeyRecord | null {
  const row = db.statement(`SELECT ${API_KEY_COLUMNS} FROM api_keys WHERE key_sha256 = ?`).get(sha256) as ApiKeyRow | undefined;
  return row ? toApiKeyRecord(row) : null;
}

export function findApiKeyById(db: SqliteDatabase, id: string): (ApiKeyRecord & { sha256: string }) | null {
  const row = db.statement(`SELECT ${API_KEY_COLUMNS}, key_sha256 FROM api_keys WHERE id = ?`).get(id) as (ApiKeyRow & { key_sha256: string }) | undefined;
  return row ? { ...toApiKeyRecord(row), sha256: row.key_sha256 } : null;
}

export function listApiKeys(db: SqliteDatabase, tenant: string | null): ApiKeyRecord[] {
  const rows = db.statement(`SELECT ${API_KEY_COLUMNS} FROM api_keys WHERE (@tenant IS NULL OR tenant = @tenant) ORDER BY created_at_ms, id`).all({ tenant }) as ApiKeyRow[];
  return rows.map(toApiKeyRecord);
}

export function revokeApiKey(db: SqliteDatabase, id: string, nowMs: number): ApiKeyRecord | null {
  const row = db.writeReturning<ApiKeyRow>(`UPDATE api_keys SET revoked_at_ms = COALESCE(revoked_at_ms, ?) WHERE id = ? RETURNING ${API_KEY_COLUMNS}`, nowMs, id);
  return row ? toApiKeyRecord(row) : null;
}

export function countApiKeys(db: SqliteDatabase): number {
  return (db.statement("SELECT COUNT(*) AS n FROM api_keys").get() as { n: number }).n;
}

/**
 * Queued Items come from the Batch counters (kept in step with Item states) for Batches past validation, and
 * for a Batch still validating from what its create counted (options requestCount or expectedItems; zero when
 * nothing was counted, as for a tenant without a queued-Items quota).
 */
export function tenantUsage(db: SqliteDatabase, tenant: string): TenantUsage {
  // The running total migration 019's triggers keep, not a sum over the tenant's Files.
  const stored = db.statement("SELECT files, bytes FROM tenant_storage WHERE tenant = ?").get(tenant) as { files: number; bytes: number } | undefined;
  return { tenant, files: stored?.files ?? 0, storedBytes: stored?.bytes ?? 0, ...tenantLiveWork(db, tenant) };
}

/** The tenant's live Batches, through their own index (migration 017). */
export function tenantLiveWork(db: SqliteDatabase, tenant: string): Pick<TenantUsage, "queuedItems" | "batchesInProgress"> {
  const batches = db
    .statement(
      `SELECT COUNT(*) AS n,
              COALESCE(SUM(CASE WHEN status = 'validating'
                                THEN COALESCE(json_extract(options_json, '$.requestCount'), json_extract(options_json, '$.expectedItems'), 0)
                                ELSE total_items - succeeded_items - failed_items - cancelled_items - expired_items END), 0) AS queued
       FROM batches WHERE tenant = ? AND status IN ${LIVE_BATCH_STATUSES}`,
    )
    .get(tenant) as { n: number; queued: number };
  return { queuedItems: batches.queued, batchesInProgress: batches.n };
}

/** Every tenant with a key, Files, or Batches (the Batches' by skipping through an index: BATCH_TENANTS). */
export function tenantNames(db: SqliteDatabase): string[] {
  const rows = db.statement(`SELECT name FROM tenants UNION SELECT tenant FROM tenant_storage WHERE files > 0 UNION ${BATCH_TENANTS} ORDER BY 1`).all() as { name: string }[];
  return rows.map((row) => row.name);
}

export function findBatchByIdempotencyKey(db: SqliteDatabase, tenant: string, key: string): (Batch & { requestDigest: string | null }) | null {
  const row = db.statement("SELECT * FROM batches WHERE tenant = ? AND idempotency_key = ?").get(tenant, key) as BatchRow | undefined;
  return row ? { ...toBatch(row), requestDigest: row.request_digest } : null;
}
