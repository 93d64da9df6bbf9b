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

/** Batch statuses that count as "in progress" for quotas: every status before an end. */
export const LIVE_BATCH_STATUSES = "('validating', 'in_progress', 'finalizing', 'cancelling')";
/** The rest: a Batch that has ended (what retention archives, migration 020). */
export const ENDED_BATCH_STATUSES = "('completed', 'failed', 'expired', 'cancelled')";

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
