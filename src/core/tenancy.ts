/**
 * Tenants, the Callers acting for them, and what a Caller may see (issue 13, decision 0021).
 *
 * A tenant owns Files, Batches and quotas. Every API request acts as a Caller: the tenant of the key it sent
 * and that key's role. A `member` sees its tenant's resources only; an `admin` sees and manages every
 * tenant's. Another tenant's resource is answered exactly as a missing one, so ids cannot be probed.
 */

export type Role = "admin" | "member";

export const ROLES: readonly Role[] = ["admin", "member"];

/** Owner of data written before tenants existed, of config `apiKeys`, and of every request while spool runs open. */
export const DEFAULT_TENANT = "default";

/** Tenant names are used in URLs, logs and CLI arguments: kept to a plain, unambiguous alphabet. */
export const TENANT_NAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

export interface Caller {
  tenant: string;
  role: Role;
  /** The Store key's id (`key_…`), or null for a key from the config file and for open (keyless) mode. */
  keyId: string | null;
}

/** Who acts when no keys exist at all (spool open on loopback, as before tenants): the default tenant, as admin. */
export const OPEN_CALLER: Caller = Object.freeze({ tenant: DEFAULT_TENANT, role: "admin", keyId: null });

/** True when `caller` may see a resource owned by `tenant`. */
export function canSee(caller: Caller, tenant: string): boolean {
  return caller.role === "admin" || caller.tenant === tenant;
}

/** The tenant a list is restricted to: the caller's own, or undefined (every tenant) for an admin. */
export function listScope(caller: Caller): string | undefined {
  return caller.role === "admin" ? undefined : caller.tenant;
}

/**
 * Per-tenant limits; an absent field is no limit. Quotas on what a tenant holds (queued Items, stored bytes,
 * Batches in progress) are checked when something new would add to it, never by dropping what was accepted.
 */
export interface Quotas {
  /** Items queued (staged, pending or running) across the tenant's Batches. */
  maxQueuedItems?: number;
  /** Bytes of the tenant's stored Files (uploads and generated results). */
  maxStoredBytes?: number;
  /** Largest single upload. */
  maxFileBytes?: number;
  /** Batches not yet ended (validating, in progress, finalizing, cancelling). */
  maxBatchesInProgress?: number;
  /** Sync API requests (chat, completions, embeddings, messages, generateContent) per minute, per process. */
  syncRequestsPerMinute?: number;
}

export const QUOTA_NAMES: readonly (keyof Quotas)[] = ["maxQueuedItems", "maxStoredBytes", "maxFileBytes", "maxBatchesInProgress", "syncRequestsPerMinute"];

/** What a tenant holds now, as quotas count it (and as admins see it). */
export interface TenantUsage {
  tenant: string;
  files: number;
  storedBytes: number;
  queuedItems: number;
  batchesInProgress: number;
}

/** An API key as the Store keeps it: never the key, only its digest and a hint of its start. */
export interface ApiKeyRecord {
  id: string;
  tenant: string;
  role: Role;
  /** The first characters of the key (`spool_k_Ab3…`), to tell keys apart in lists. */
  hint: string;
  createdAtMs: number;
  revokedAtMs: number | null;
}

export interface TenantRecord {
  name: string;
  quotas: Quotas | null;
  createdAtMs: number;
}
