/**
 * The Store's tenant part (src/store/tenant-directory.ts, migrations 010, 011 and 019) on every backend:
 * tenants and their quotas, keys found by digest and revoked, lists filtered by tenant, usage as quotas count
 * it (what a tenant stores kept in step with its Files), the Batch an Idempotency-Key made; and the upgrades
 * of a database written before tenants (its rows become the default tenant's) and before the stored totals.
 */
import { afterEach, describe, expect, it } from "vitest";
import { isAppError } from "../../src/core/errors.ts";
import type { Store } from "../../src/store/store.ts";
import { storeBackends, useStores } from "../helpers/store-backends.ts";
import { undoMigrationsSql } from "./previous-schemas.ts";
import { postgresDatabase, sqliteDatabase, type UpgradedDatabase } from "./upgraded-databases.ts";
import { LEASE_MS, MODEL, newBatch, newFile, newItems, T0 } from "./store-fixtures.ts";

const digest = (n: number): string => n.toString(16).padStart(64, "0");

describe.each(storeBackends)("$name store: tenants and keys", (backend) => {
  const stores = useStores(backend);

  it("creates tenants once, keeps their quotas, and lists them by name", async () => {
    const store = await stores.open();
    const first = await store.ensureTenant("beta", T0);
    expect(first).toEqual({ name: "beta", quotas: null, createdAtMs: T0 });
    expect(await store.ensureTenant("beta", T0 + 5)).toEqual(first);
    expect(await store.setTenantQuotas("alpha", { maxQueuedItems: 10 }, T0 + 1)).toEqual({ name: "alpha", quotas: { maxQueuedItems: 10 }, createdAtMs: T0 + 1 });
    expect((await store.setTenantQuotas("beta", { maxFileBytes: 5 }, T0 + 9)).quotas).toEqual({ maxFileBytes: 5 });
    expect((await store.listTenants()).map((tenant) => tenant.name)).toEqual(["alpha", "beta"]);
    expect((await store.setTenantQuotas("beta", null, T0 + 9)).quotas).toBeNull();
    expect(await store.getTenant("nobody")).toBeNull();
  });

  it("finds a key by its digest only, lists keys without digests, and revokes once", async () => {
    const store = await stores.open();
    await store.ensureTenant("alpha", T0);
    await store.ensureTenant("beta", T0);
    const key = await store.createApiKey({ id: "key_a", tenant: "alpha", role: "member", sha256: digest(1), hint: "spool_abcd…", createdAtMs: T0 });
    await store.createApiKey({ id: "key_b", tenant: "beta", role: "admin", sha256: digest(2), hint: "spool_efgh…", createdAtMs: T0 + 1 });
    expect(key).toEqual({ id: "key_a", tenant: "alpha", role: "member", hint: "spool_abcd…", createdAtMs: T0, revokedAtMs: null });
    expect(await store.findApiKey(digest(1))).toEqual(key);
    expect(await store.findApiKey(digest(3))).toBeNull();
    expect((await store.findApiKeyById("key_b"))?.sha256).toBe(digest(2));
    expect((await store.listApiKeys()).map((listed) => listed.id)).toEqual(["key_a", "key_b"]);
    expect(await store.listApiKeys("beta")).toEqual([expect.objectContaining({ id: "key_b", role: "admin" })]);
    expect(JSON.stringify(await store.listApiKeys())).not.toContain(digest(1));
    expect(await store.countApiKeys()).toBe(2);
    expect((await store.revokeApiKey("key_a", T0 + 10))?.revokedAtMs).toBe(T0 + 10);
    expect((await store.revokeApiKey("key_a", T0 + 20))?.revokedAtMs).toBe(T0 + 10);
    expect(await store.revokeApiKey("key_missing", T0)).toBeNull();
    expect(await store.countApiKeys()).toBe(2);
    const duplicate = await store.createApiKey({ id: "key_c", tenant: "alpha", role: "member", sha256: digest(2), hint: "x", createdAtMs: T0 }).catch((error: unknown) => error);
    expect(duplicate).toBeInstanceOf(Error);
    expect(isAppError(duplicate) && duplicate.code === "internal").toBe(false);
  });

  it("lists files and batches of one tenant only when asked, and records the owner", async () => {
    const store = await stores.open();
    const mine = await store.createFile(newFile({ tenant: "alpha" }));
    const theirs = await store.createFile(newFile({ tenant: "beta" }));
    const legacy = await store.createFile(newFile());
    expect(legacy.tenant).toBe("default");
    expect((await store.listFiles({ tenant: "alpha", limit: 10, order: "asc" })).files).toEqual([mine]);
    expect((await store.listFiles({ limit: 10, order: "asc" })).files.map((file) => file.id)).toEqual([mine.id, theirs.id, legacy.id]);
    const batchA = await store.createBatch(newBatch({ tenant: "alpha" }));
    const batchB = await store.createBatch(newBatch({ tenant: "beta", createdAtMs: T0 + 1 }));
    expect((await store.getBatch(batchA.id))?.tenant).toBe("alpha");
    expect((await store.listBatches({ tenant: "beta", limit: 10 })).batches.map((batch) => batch.id)).toEqual([batchB.id]);
    expect((await store.listBatches({ limit: 10 })).batches.map((batch) => batch.id)).toEqual([batchB.id, batchA.id]);
  });

  it("counts what a tenant holds: files, bytes, batches in progress and queued items", async () => {
    const store = await stores.open();
    await store.createFile(newFile({ tenant: "alpha", bytes: 100 }));
    await store.createFile(newFile({ tenant: "alpha", bytes: 50 }));
    await store.createFile(newFile({ tenant: "beta", bytes: 7 }));
    const running = await store.createBatch(newBatch({ tenant: "alpha" }));
    await store.createBatch(newBatch({ tenant: "alpha", options: { expectedItems: 4 }, createdAtMs: T0 + 1 }));
    await store.claimValidation({ owner: "v", nowMs: T0, leaseMs: LEASE_MS });
    await store.insertItems(running.id, newItems(5));
    await store.startBatch(running.id, { owner: "v", total: 5, model: MODEL, errors: null, nowMs: T0 + 1 });
    expect(await store.tenantUsage("alpha")).toEqual({ tenant: "alpha", files: 2, storedBytes: 150, queuedItems: 9, batchesInProgress: 2 });
    // The live part alone (a create's quota checks): the same counts, without reading the Files.
    expect(await store.tenantLiveWork("alpha")).toEqual({ queuedItems: 9, batchesInProgress: 2 });
    expect(await store.tenantLiveWork("beta")).toEqual({ queuedItems: 0, batchesInProgress: 0 });
    // The scheduler sees whose Batch it is (per-tenant fair share).
    expect((await store.queuedBatches(MODEL, 10)).map((queued) => [queued.id, queued.tenant])).toEqual([[running.id, "alpha"]]);
    expect(await store.tenantUsage("nobody")).toEqual({ tenant: "nobody", files: 0, storedBytes: 0, queuedItems: 0, batchesInProgress: 0 });
    await store.cancelBatch(running.id, T0 + 2);
    expect((await store.tenantUsage("alpha")).queuedItems).toBe(4);
    expect(await store.tenantLiveWork("alpha")).toEqual({ queuedItems: 4, batchesInProgress: 2 });
    expect((await store.usageByTenant()).map((usage) => usage.tenant)).toEqual(["alpha", "beta"]);
  });

  it("keeps what a tenant stores in step with every File written, deleted or expired", async () => {
    const store = await stores.open();
    const kept = await store.createFile(newFile({ tenant: "alpha", bytes: 100 }));
    const deleted = await store.createFile(newFile({ tenant: "alpha", bytes: 50 }));
    await store.createFile(newFile({ tenant: "beta", bytes: 7 }));
    await store.createFile(newFile({ tenant: "beta", bytes: 9, expiresAtMs: T0 + 5 }));
    await expect(store.createFile(newFile({ id: kept.id, tenant: "alpha", bytes: 1_000 }))).rejects.toThrow();
    expect(await store.tenantUsage("alpha")).toMatchObject({ files: 2, storedBytes: 150 });
    expect(await store.tenantUsage("beta")).toMatchObject({ files: 2, storedBytes: 16 });
    expect(await store.deleteFile(deleted.id)).toBe(true);
    expect(await store.deleteFile(deleted.id)).toBe(false);
    expect(await store.deleteExpiredFiles(T0 + 10, 10)).toHaveLength(1);
    expect(await store.tenantUsage("alpha")).toMatchObject({ files: 1, storedBytes: 100 });
    expect(await store.tenantUsage("beta")).toMatchObject({ files: 1, storedBytes: 7 });
    // A tenant whose last File is gone (and with no record or Batch) drops out of the overview.
    expect(await store.deleteFile(kept.id)).toBe(true);
    expect((await store.usageByTenant()).map((usage) => [usage.tenant, usage.files, usage.storedBytes])).toEqual([["beta", 1, 7]]);
    // Written at once (on PostgreSQL over several connections, so on several of the total's rows).
    await Promise.all(Array.from({ length: 20 }, (_, i) => store.createFile(newFile({ tenant: "gamma", bytes: i + 1 }))));
    expect(await store.tenantUsage("gamma")).toMatchObject({ files: 20, storedBytes: 210 });
  });

  it("lists every tenant that has Batches in the admins' overview, however many Batches each has", async () => {
    const store = await stores.open();
    expect(await store.usageByTenant()).toEqual([]);
    // Only Batches (no File, key or record): interleaved, several each, names that sort apart from their order.
    const tenants = ["zeta", "alpha", "mu", "alpha-2", "b"];
    for (let round = 0; round < 3; round += 1) {
      for (const [i, tenant] of tenants.entries()) await store.createBatch(newBatch({ tenant, createdAtMs: T0 + round * 10 + i }));
    }
    expect((await store.usageByTenant()).map((usage) => [usage.tenant, usage.batchesInProgress])).toEqual([...tenants].sort().map((tenant) => [tenant, 3]));
  });

  it("finds the batch an Idempotency-Key made, per tenant, and refuses a second batch with the key", async () => {
    const store = await stores.open();
    const made = await store.createBatch(newBatch({ tenant: "alpha", idempotencyKey: "k1", requestDigest: "d1" }));
    expect(await store.findBatchByIdempotencyKey("alpha", "k1")).toEqual({ ...made, requestDigest: "d1" });
    expect(await store.findBatchByIdempotencyKey("beta", "k1")).toBeNull();
    await expect(store.createBatch(newBatch({ tenant: "alpha", idempotencyKey: "k1", requestDigest: "d2" }))).rejects.toThrow();
    expect((await store.createBatch(newBatch({ tenant: "beta", idempotencyKey: "k1", requestDigest: "d1" }))).tenant).toBe("beta");
  });
});

const opened: Store[] = [];
afterEach(async () => {
  await Promise.all(opened.splice(0).map((store) => store.close()));
});

async function upgradeKeepsRowsAsDefaultTenant({ open, exec, backend }: UpgradedDatabase): Promise<void> {
  const before = await open();
  const file = await before.createFile(newFile({ tenant: "alpha" }));
  const batch = await before.createBatch(newBatch({ tenant: "alpha", idempotencyKey: "k", requestDigest: "d" }));
  await before.close();
  opened.splice(opened.indexOf(before), 1);
  await exec(undoMigrationsSql(10, backend));
  const after = await open();
  expect((await after.getFile(file.id))?.tenant).toBe("default");
  expect(await after.getBatch(batch.id)).toMatchObject({ id: batch.id, tenant: "default" });
  expect((await after.listBatches({ tenant: "default", limit: 5 })).batches.map((listed) => listed.id)).toEqual([batch.id]);
  expect(await after.countApiKeys()).toBe(0);
}

/** Batches written before migration 021 are in the counts by status after it, deleted ones left out. */
async function upgradeCountsBatches({ open, exec, backend }: UpgradedDatabase): Promise<void> {
  const before = await open();
  await before.createBatch(newBatch());
  const cancelled = await before.createBatch(newBatch({ createdAtMs: T0 + 1 }));
  const deleted = await before.createBatch(newBatch({ createdAtMs: T0 + 2 }));
  await before.cancelBatch(cancelled.id, T0 + 3);
  await before.deleteBatch(deleted.id, T0 + 4);
  await before.close();
  opened.splice(opened.indexOf(before), 1);
  await exec(undoMigrationsSql(21, backend));
  const after = await open();
  expect(await after.countBatchesByStatus()).toMatchObject({ validating: 1, cancelling: 1 });
  await after.createBatch(newBatch({ createdAtMs: T0 + 5 }));
  expect((await after.countBatchesByStatus()).validating).toBe(2);
}

/** Files written before migration 019 are in the running total after it, and later writes move it. */
async function upgradeCountsStoredFiles({ open, exec, backend }: UpgradedDatabase): Promise<void> {
  const before = await open();
  const gone = await before.createFile(newFile({ tenant: "alpha", bytes: 100 }));
  await before.createFile(newFile({ tenant: "alpha", bytes: 20 }));
  await before.createFile(newFile({ tenant: "beta", bytes: 3 }));
  await before.close();
  opened.splice(opened.indexOf(before), 1);
  await exec(undoMigrationsSql(19, backend));
  const after = await open();
  expect(await after.tenantUsage("alpha")).toMatchObject({ files: 2, storedBytes: 120 });
  expect(await after.tenantUsage("beta")).toMatchObject({ files: 1, storedBytes: 3 });
  await after.deleteFile(gone.id);
  await after.createFile(newFile({ tenant: "alpha", bytes: 5 }));
  expect(await after.tenantUsage("alpha")).toMatchObject({ files: 2, storedBytes: 25 });
}

describe.runIf(storeBackends.some((backend) => backend.name === "sqlite"))("sqlite store: upgrades (migrations 010, 011, 019, 021)", () => {
  it("gives every file and batch written before tenants to the default tenant", async () => {
    await upgradeKeepsRowsAsDefaultTenant(sqliteDatabase("sqlite upgrade to tenants", opened));
  });

  it("counts the files stored before the running total of what tenants store (migration 019)", async () => {
    await upgradeCountsStoredFiles(sqliteDatabase("sqlite upgrade to storage totals", opened));
  });

  it("counts the batches stored before the running counts by status (migration 021)", async () => {
    await upgradeCountsBatches(sqliteDatabase("sqlite upgrade to status counts", opened));
  });
});

describe.runIf(storeBackends.some((backend) => backend.name === "postgres"))("postgres store: upgrades (migrations 010, 011, 019, 021)", () => {
  it("gives every file and batch written before tenants to the default tenant", async () => {
    await upgradeKeepsRowsAsDefaultTenant(await postgresDatabase("postgres upgrade to tenants", opened));
  });

  it("counts the files stored before the running total of what tenants store (migration 019)", async () => {
    await upgradeCountsStoredFiles(await postgresDatabase("postgres upgrade to storage totals", opened));
  });

  it("counts the batches stored before the running counts by status (migration 021)", async () => {
    await upgradeCountsBatches(await postgresDatabase("postgres upgrade to status counts", opened));
  });
});
