/** Rows of migrations 010 and 011 (tenants, api_keys) as domain objects; shared by both Stores. */
import type { ApiKeyRecord, Quotas, Role, TenantRecord } from "../../core/tenancy.ts";

export interface TenantRow {
  name: string;
  quotas_json: string | null;
  created_at_ms: number;
}

export interface ApiKeyRow {
  key_sha256?: string;
  id: string;
  tenant: string;
  role: Role;
  key_hint: string;
  created_at_ms: number;
  revoked_at_ms: number | null;
}

/** Columns read for a key: never its digest, which nothing above the Store needs. */
export const API_KEY_COLUMNS = "id, tenant, role, key_hint, created_at_ms, revoked_at_ms";

/**
 * The tenants that have Batches, as a SELECT of one column `tenant`, in SQL both stores run: a loose index
 * scan of `batches_tenant (tenant, seq)` that descends once per tenant to the next name, so its cost follows
 * the tenants, not the Batches ever stored (`SELECT DISTINCT tenant` read every entry: 2.6 ms on SQLite and
 * 21 ms on PostgreSQL at 100k finished Batches of one tenant).
 */
export const BATCH_TENANTS = `SELECT tenant FROM (
    WITH RECURSIVE seen (tenant) AS (
      SELECT (SELECT b.tenant FROM batches b ORDER BY b.tenant LIMIT 1)
      UNION ALL
      SELECT (SELECT b.tenant FROM batches b WHERE b.tenant > seen.tenant ORDER BY b.tenant LIMIT 1) FROM seen WHERE seen.tenant IS NOT NULL)
    SELECT tenant FROM seen WHERE tenant IS NOT NULL) AS batch_tenants`;

export function toTenantRecord(row: TenantRow): TenantRecord {
  return { name: row.name, quotas: row.quotas_json === null ? null : (JSON.parse(row.quotas_json) as Quotas), createdAtMs: Number(row.created_at_ms) };
}

export function toApiKeyRecord(row: ApiKeyRow): ApiKeyRecord {
  return {
    id: row.id,
    tenant: row.tenant,
    role: row.role,
    hint: row.key_hint,
    createdAtMs: Number(row.created_at_ms),
    revokedAtMs: row.revoked_at_ms === null ? null : Number(row.revoked_at_ms),
  };
}
