/**
 * The Tenant service (issue 13, decision 0021): who a presented API key is, the keys of each tenant (created,
 * listed, revoked by `spool keys` and the admin API alike), each tenant's quotas and what it holds.
 *
 * Keys come from two places. The config file's (`apiKeys`: the default tenant's admins; `tenants[].keys`)
 * are compared by digest in constant time, as before tenants. The Store's are found by their digest; a
 * found key is remembered for AUTH_CACHE_MS so the sync hot path does not read the Store per request, which
 * is also how long a key revoked by another process keeps working here (a revoke in this process is at once).
 * A tenant's quotas kept in the Store are remembered as long, for the same reason (a Store read per sync
 * request was 2 % of spool's CPU at 5,000 requests a second, and every upload and Batch create read them
 * twice): quotas set by another process apply here within it, those set in this process at once.
 */
import { timingSafeEqual } from "node:crypto";
import type { Logger } from "pino";
import type { Config } from "../config/config.ts";
import { apiKeyDigest, apiKeyHint, newApiKey, newApiKeyId } from "../core/api-keys.ts";
import type { Clock } from "../core/clock.ts";
import { AppError } from "../core/errors.ts";
import { DEFAULT_TENANT, TENANT_NAME_PATTERN, type ApiKeyRecord, type Caller, type Quotas, type Role, type TenantUsage } from "../core/tenancy.ts";
import type { Store } from "../store/store.ts";
import type { Admission } from "./batch-service.ts";
import { SyncRateLimiter } from "./sync-rate-limiter.ts";

const AUTH_CACHE_MS = 5_000;

export interface TenantServiceDeps {
  store: Store;
  clock: Clock;
  logger: Logger;
  config: Pick<Config, "apiKeys" | "tenants" | "defaultQuotas">;
}

/** What a Batch or File about to be stored adds to its tenant's holdings. */
export interface Addition {
  items?: number;
  bytes?: number;
  batches?: number;
}

export interface TenantOverview extends TenantUsage {
  quotas: Quotas;
  /** Where the quotas come from: the config file, the Store (admin API, CLI), or `defaultQuotas`. */
  quotasFrom: "config" | "store" | "default";
}

export class TenantService implements Admission {
  private readonly configKeys: { digest: Buffer; caller: Caller }[];
  private readonly found = new Map<string, { caller: Caller; untilMs: number }>();
  private keysExist: { value: boolean; untilMs: number } | null = null;
  private readonly rates = new SyncRateLimiter();
  private readonly syncLimits = new Map<string, { limit: number | undefined; untilMs: number }>();
  private readonly storedQuotas = new Map<string, { quotas: Quotas | null; untilMs: number }>();

  constructor(private readonly deps: TenantServiceDeps) {
    const { apiKeys, tenants } = deps.config;
    this.configKeys = [
      // What a key of the flat list could do before tenants (see and manage everything) it still can.
      ...apiKeys.map((key) => ({ key, caller: { tenant: DEFAULT_TENANT, role: "admin" as Role, keyId: null } })),
      ...tenants.flatMap((tenant) => (tenant.keys ?? []).map((key) => ({ key, caller: { tenant: tenant.name, role: tenant.role ?? "member", keyId: null } }))),
    ].map(({ key, caller }) => ({ digest: Buffer.from(apiKeyDigest(key), "hex"), caller }));
  }

  /**
   * True when any key exists (config or Store): requests must then carry one. Without keys spool runs open.
   * Answered at once (not a promise) while the answer is remembered, as authenticate() for a remembered key:
   * the authentication hook then costs no promise and no wait per request (issue 11).
   */
  authRequired(): boolean | Promise<boolean> {
    if (this.configKeys.length > 0) return true;
    const nowMs = this.deps.clock.now();
    if (this.keysExist !== null && this.keysExist.untilMs > nowMs) return this.keysExist.value;
    return this.deps.store.countApiKeys().then((count) => {
      this.keysExist = { value: count > 0, untilMs: nowMs + AUTH_CACHE_MS };
      return count > 0;
    });
  }

  /** The Caller a presented key acts as, or null for an unknown or revoked key (at once when known here). */
  authenticate(key: string): Caller | null | Promise<Caller | null> {
    const digest = apiKeyDigest(key);
    const candidate = Buffer.from(digest, "hex");
    let fromConfig: Caller | null = null;
    // Every configured key is compared, so the time taken does not tell which (or whether one) matched.
    for (const entry of this.configKeys) if (timingSafeEqual(entry.digest, candidate) && fromConfig === null) fromConfig = entry.caller;
    if (fromConfig !== null) return fromConfig;
    const nowMs = this.deps.clock.now();
    const cached = this.found.get(digest);
    if (cached !== undefined && cached.untilMs > nowMs) return cached.caller;
    return this.deps.store.findApiKey(digest).then((record) => {
      if (record === null || record.revokedAtMs !== null) {
        this.found.delete(digest);
        return null;
      }
      const caller: Caller = { tenant: record.tenant, role: record.role, keyId: record.id };
      this.found.set(digest, { caller, untilMs: nowMs + AUTH_CACHE_MS });
      return caller;
    });
  }

  /**
   * The keys that may have signed a dashboard download link (download-links.ts), with who they act as: the
   * Store key `keyId` (when not revoked), or with no id every key of the config file.
   */
  async signers(keyId: string | null): Promise<{ digest: string; caller: Caller }[]> {
    if (keyId === null) return this.configKeys.map((entry) => ({ digest: entry.digest.toString("hex"), caller: entry.caller }));
    const record = await this.deps.store.findApiKeyById(keyId);
    if (record === null || record.revokedAtMs !== null) return [];
    return [{ digest: record.sha256, caller: { tenant: record.tenant, role: record.role, keyId: record.id } }];
  }

  /** Makes a key for `tenant` (created if new). The key itself is returned here only, never again. */
  async createKey(params: { tenant: string; role?: Role }): Promise<{ key: string; record: ApiKeyRecord }> {
    const tenant = checkTenantName(params.tenant);
    const nowMs = this.deps.clock.now();
    await this.deps.store.ensureTenant(tenant, nowMs);
    const key = newApiKey();
    const record = await this.deps.store.createApiKey({ id: newApiKeyId(), tenant, role: params.role ?? "member", sha256: apiKeyDigest(key), hint: apiKeyHint(key), createdAtMs: nowMs });
    this.keysExist = null;
    this.deps.logger.info({ keyId: record.id, tenant, role: record.role }, "api key created");
    return { key, record };
  }

  listKeys(tenant?: string): Promise<ApiKeyRecord[]> {
    return this.deps.store.listApiKeys(tenant);
  }

  /** Revokes a Store key; it stops authenticating in this process at once, in others within AUTH_CACHE_MS. */
  async revokeKey(id: string): Promise<ApiKeyRecord> {
    const record = await this.deps.store.revokeApiKey(id, this.deps.clock.now());
    if (record === null) throw new AppError("not_found", `No API key has the id '${id}'. List keys with 'spool keys list'.`, { param: "id" });
    this.found.clear();
    this.keysExist = null;
    this.deps.logger.info({ keyId: id, tenant: record.tenant }, "api key revoked");
    return record;
  }

  /** Sets the quotas kept in the Store for `tenant` (a tenant of the config file keeps the file's). */
  async setQuotas(tenant: string, quotas: Quotas | null): Promise<TenantOverview> {
    await this.deps.store.setTenantQuotas(checkTenantName(tenant), quotas, this.deps.clock.now());
    this.syncLimits.delete(tenant);
    this.storedQuotas.delete(tenant);
    return this.overview(tenant);
  }

  /** The quotas in force for `tenant`: the config file's entry, else the Store's, else `defaultQuotas`. */
  async quotasOf(tenant: string): Promise<{ quotas: Quotas; from: TenantOverview["quotasFrom"] }> {
    const declared = this.deps.config.tenants.find((entry) => entry.name === tenant)?.quotas;
    if (declared !== undefined) return { quotas: declared, from: "config" };
    const stored = await this.storedQuotasOf(tenant);
    if (stored !== null) return { quotas: stored, from: "store" };
    return { quotas: this.deps.config.defaultQuotas, from: "default" };
  }

  /** The quotas the Store holds for `tenant` (null: none), read at most once per AUTH_CACHE_MS. */
  private async storedQuotasOf(tenant: string): Promise<Quotas | null> {
    const nowMs = this.deps.clock.now();
    const known = this.storedQuotas.get(tenant);
    if (known !== undefined && known.untilMs > nowMs) return known.quotas;
    const quotas = (await this.deps.store.getTenant(tenant))?.quotas ?? null;
    this.storedQuotas.set(tenant, { quotas, untilMs: nowMs + AUTH_CACHE_MS });
    return quotas;
  }

  async overview(tenant: string): Promise<TenantOverview> {
    const [usage, quotas] = await Promise.all([this.deps.store.tenantUsage(tenant), this.quotasOf(tenant)]);
    return { ...usage, quotas: quotas.quotas, quotasFrom: quotas.from };
  }

  /** Every tenant with a record, a declaration or anything stored: usage and quotas (admins only). */
  async overviews(): Promise<TenantOverview[]> {
    const usages = new Map((await this.deps.store.usageByTenant()).map((usage) => [usage.tenant, usage]));
    const names = new Set([...usages.keys(), ...this.deps.config.tenants.map((tenant) => tenant.name)]);
    // A tenant's usage is read once: the Store's list has it, a tenant only declared in the config does not.
    return Promise.all(
      [...names].sort().map(async (name) => {
        const usage = usages.get(name);
        if (usage === undefined) return this.overview(name);
        const quotas = await this.quotasOf(name);
        return { ...usage, quotas: quotas.quotas, quotasFrom: quotas.from };
      }),
    );
  }

  /** The largest upload `tenant` may make now (its file-size quota), or null for no quota. */
  async maxFileBytes(tenant: string): Promise<number | null> {
    return (await this.quotasOf(tenant)).quotas.maxFileBytes ?? null;
  }

  /**
   * Refuses (quota_exceeded, naming the limit) what would take `tenant` over a quota. Checked before the new
   * thing is stored; two creates racing past one check can overshoot a quota by one of them.
   */
  async requireRoom(tenant: string, addition: Addition): Promise<void> {
    const { quotas } = await this.quotasOf(tenant);
    const over = (limit: number | undefined, held: number, added: number | undefined): boolean => limit !== undefined && added !== undefined && held + added > limit;
    if (over(quotas.maxFileBytes, 0, addition.bytes)) {
      throw quotaError(`The file is ${addition.bytes} bytes; tenant '${tenant}' may upload files of at most ${quotas.maxFileBytes} bytes (quota maxFileBytes).`, "maxFileBytes");
    }
    // Only what the watched quotas need: a create under Batch quotas reads the tenant's live Batches, an
    // upload under maxStoredBytes also its stored total.
    const storage = addition.bytes !== undefined && quotas.maxStoredBytes !== undefined;
    const work = (addition.items !== undefined && quotas.maxQueuedItems !== undefined) || (addition.batches !== undefined && quotas.maxBatchesInProgress !== undefined);
    if (!storage && !work) return;
    const usage = storage ? await this.deps.store.tenantUsage(tenant) : { storedBytes: 0, ...(await this.deps.store.tenantLiveWork(tenant)) };
    if (over(quotas.maxStoredBytes, usage.storedBytes, addition.bytes)) {
      throw quotaError(`Tenant '${tenant}' stores ${usage.storedBytes} bytes; ${addition.bytes} more would pass its quota maxStoredBytes of ${quotas.maxStoredBytes}. Delete files first.`, "maxStoredBytes");
    }
    if (over(quotas.maxBatchesInProgress, usage.batchesInProgress, addition.batches)) {
      throw quotaError(`Tenant '${tenant}' has ${usage.batchesInProgress} batches in progress, its quota maxBatchesInProgress; create this one when one ends.`, "maxBatchesInProgress");
    }
    if (over(quotas.maxQueuedItems, usage.queuedItems, addition.items)) {
      throw quotaError(`Tenant '${tenant}' has ${usage.queuedItems} requests queued; ${addition.items} more would pass its quota maxQueuedItems of ${quotas.maxQueuedItems}.`, "maxQueuedItems");
    }
  }

  async countsItems(tenant: string): Promise<boolean> {
    return (await this.quotasOf(tenant)).quotas.maxQueuedItems !== undefined;
  }

  /** Counts one sync request of `tenant` against its `syncRequestsPerMinute` (in this process). */
  async takeSyncRequest(tenant: string): Promise<void> {
    const nowMs = this.deps.clock.now();
    let known = this.syncLimits.get(tenant);
    if (known === undefined || known.untilMs <= nowMs) {
      known = { limit: (await this.quotasOf(tenant)).quotas.syncRequestsPerMinute, untilMs: nowMs + AUTH_CACHE_MS };
      this.syncLimits.set(tenant, known);
    }
    const limit = known.limit;
    if (limit === undefined) return;
    const waitMs = this.rates.take(tenant, limit, this.deps.clock.now());
    if (waitMs > 0) {
      throw quotaError(`Tenant '${tenant}' sent more than its quota syncRequestsPerMinute of ${limit} requests in the last minute; retry in ${Math.ceil(waitMs / 1000)} s.`, "syncRequestsPerMinute");
    }
  }
}

/** An upload cut off at the tenant's `maxFileBytes` (413, as for the server's own upload limit). */
export function fileQuotaError(tenant: string, maxBytes: number): AppError {
  return new AppError("payload_too_large", `The file is larger than tenant '${tenant}' may upload: its quota maxFileBytes is ${maxBytes} bytes.`, { param: "maxFileBytes" });
}

function quotaError(message: string, limit: string): AppError {
  return new AppError("quota_exceeded", message, { param: limit, reason: "quota_exceeded" });
}

export function checkTenantName(name: string): string {
  if (!TENANT_NAME_PATTERN.test(name)) {
    throw new AppError("invalid_request", `'${name}' is not a valid tenant name: use 1-64 letters, digits, '.', '_' or '-', starting with a letter or digit.`, { param: "tenant" });
  }
  return name;
}
