/**
 * The Store's part for tenants (issue 13, migration 010): tenants, their API keys (as digests), what each
 * tenant holds (for quotas and admins), and the Batch an Idempotency-Key already created (migration 011).
 *
 * Keys are never stored: callers pass the SHA-256 hex of a key (src/core/api-keys.ts makes and digests
 * them) and the Store finds the key record by that digest. Revoked keys stay listed, with their revocation
 * time, and no longer authenticate.
 */
import type { ApiKeyRecord, Quotas, Role, TenantRecord, TenantUsage } from "../core/tenancy.ts";
import type { Batch } from "../core/types.ts";

export interface NewApiKey {
  id: string;
  tenant: string;
  role: Role;
  /** Lower-case hex SHA-256 of the key. */
  sha256: string;
  hint: string;
  createdAtMs: number;
}

export interface TenantDirectory {
  /** Creates the tenant when it does not exist yet (with no quotas); returns it either way. */
  ensureTenant(name: string, nowMs: number): Promise<TenantRecord>;
  /** Sets (or with null, clears) the quotas kept in the Store for a tenant, creating it if needed. */
  setTenantQuotas(name: string, quotas: Quotas | null, nowMs: number): Promise<TenantRecord>;
  getTenant(name: string): Promise<TenantRecord | null>;
  listTenants(): Promise<TenantRecord[]>;

  /** Stores a key of an existing tenant (call ensureTenant first). */
  createApiKey(key: NewApiKey): Promise<ApiKeyRecord>;
  /** The key whose digest this is, revoked or not; null when none. */
  findApiKey(sha256: string): Promise<ApiKeyRecord | null>;
  /** The key with this id and its digest (dashboard download links are signed with it); null when none. */
  findApiKeyById(id: string): Promise<(ApiKeyRecord & { sha256: string }) | null>;
  /** Every key, oldest first; one tenant's with `tenant`. */
  listApiKeys(tenant?: string): Promise<ApiKeyRecord[]>;
  /** Marks a key revoked (idempotent). Null when no key has this id. */
  revokeApiKey(id: string, nowMs: number): Promise<ApiKeyRecord | null>;
  /**
   * Keys ever stored, revoked ones included: with none (and none in the config) spool runs open on loopback.
   * Revoked keys count so that revoking the last key locks the door rather than opening it.
   */
  countApiKeys(): Promise<number>;

  /**
   * What `tenant` holds now (zeros for a tenant with nothing). Its Files' count and bytes come from a running
   * total kept with every File written or deleted (migration 019), so this costs the same however many it has.
   */
  tenantUsage(tenant: string): Promise<TenantUsage>;
  /**
   * The part of tenantUsage about live Batches (what the quota checks of a create need): it reads only the
   * tenant's live Batches, however many Batches it ever had.
   */
  tenantLiveWork(tenant: string): Promise<Pick<TenantUsage, "queuedItems" | "batchesInProgress">>;
  /** Usage of every tenant that holds something or has a record, by name. */
  usageByTenant(): Promise<TenantUsage[]>;

  /** The Batch `tenant` created with this Idempotency-Key, deleted or not; null when none. */
  findBatchByIdempotencyKey(tenant: string, key: string): Promise<(Batch & { requestDigest: string | null }) | null>;
}
