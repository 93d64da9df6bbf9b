/**
 * The Tenant service remembers the quotas the Store holds for a tenant (src/batches/tenant-service.ts): every
 * upload and Batch create reads them, and a Store read each time was a round trip to the Store's thread or
 * the database. Two Stores on one file stand for two processes: what this process sets applies at once,
 * what another process sets applies here within AUTH_CACHE_MS (5 s), as for keys.
 */
import { pino } from "pino";
import { describe, expect, it } from "vitest";
import { TenantService } from "../../src/batches/tenant-service.ts";
import { ManualClock } from "../../src/core/clock.ts";
import { isAppError } from "../../src/core/errors.ts";
import type { Store } from "../../src/store/store.ts";
import { storeBackends, useStores } from "../helpers/store-backends.ts";

const service = (store: Store, clock: ManualClock): TenantService =>
  new TenantService({ store, clock, logger: pino({ level: "silent" }), config: { apiKeys: [], tenants: [], defaultQuotas: {} } });

async function refusal(work: Promise<unknown>): Promise<string | null> {
  try {
    await work;
    return null;
  } catch (error) {
    if (isAppError(error)) return `${error.code}: ${error.param}`;
    throw error;
  }
}

describe.each(storeBackends)("$name store: quotas remembered by the tenant service", (backend) => {
  const stores = useStores(backend);

  it("applies its own quota changes at once and another process's within five seconds", async () => {
    const [here, there] = await stores.openShared(2);
    const clock = new ManualClock();
    const tenants = service(here as Store, clock);
    expect(await tenants.maxFileBytes("team")).toBeNull();

    // Set in this process: the next check already refuses.
    await tenants.setQuotas("team", { maxFileBytes: 100 });
    expect(await tenants.maxFileBytes("team")).toBe(100);
    expect(await refusal(tenants.requireRoom("team", { bytes: 101 }))).toBe("quota_exceeded: maxFileBytes");

    // Set by another process: remembered here until the cache period has passed, then read again.
    await (there as Store).setTenantQuotas("team", { maxFileBytes: 1_000 }, clock.now());
    clock.advance(4_999);
    expect(await tenants.maxFileBytes("team")).toBe(100);
    clock.advance(1);
    expect(await tenants.maxFileBytes("team")).toBe(1_000);
    expect(await refusal(tenants.requireRoom("team", { bytes: 101 }))).toBeNull();

    // Cleared by another process: back to the defaults within the same bound.
    await (there as Store).setTenantQuotas("team", null, clock.now());
    expect((await tenants.quotasOf("team")).from).toBe("store");
    clock.advance(5_000);
    expect(await tenants.quotasOf("team")).toEqual({ quotas: {}, from: "default" });
  });

  it("reads only what the watched quotas need: a create's checks never sum the tenant's Files", async () => {
    const store = await stores.open();
    const reads: string[] = [];
    // The real Store, with its usage reads noted.
    const noting = Object.create(store) as Store;
    noting.tenantUsage = (tenant) => (reads.push("tenantUsage"), store.tenantUsage(tenant));
    noting.tenantLiveWork = (tenant) => (reads.push("tenantLiveWork"), store.tenantLiveWork(tenant));
    const tenants = service(noting, new ManualClock());
    await tenants.setQuotas("team", { maxFileBytes: 100, maxStoredBytes: 1_000, maxBatchesInProgress: 1, maxQueuedItems: 10 });
    reads.length = 0; // setQuotas answers with the tenant's overview

    expect(await refusal(tenants.requireRoom("team", { batches: 1, items: 10 }))).toBeNull();
    expect(await refusal(tenants.requireRoom("team", { batches: 1, items: 11 }))).toBe("quota_exceeded: maxQueuedItems");
    expect(reads).toEqual(["tenantLiveWork", "tenantLiveWork"]);
    // An upload's checks sum the Files; one over maxFileBytes needs no usage at all.
    expect(await refusal(tenants.requireRoom("team", { bytes: 90 }))).toBeNull();
    expect(await refusal(tenants.requireRoom("team", { bytes: 101 }))).toBe("quota_exceeded: maxFileBytes");
    expect(reads).toEqual(["tenantLiveWork", "tenantLiveWork", "tenantUsage"]);
  });
});
