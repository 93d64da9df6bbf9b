import { afterEach, describe, expect, it } from "vitest";
import type { PostgresStore } from "../../src/store/postgres/index.ts";
import type { ClaimedItem } from "../../src/store/store.ts";
import pg from "pg";
import { openTestPostgresStores, withClient } from "../helpers/postgres.ts";
import { allItems, completion, expectCountsMatchItems, LEASE_MS, MODEL, startedBatch, T0 } from "./store-fixtures.ts";

/** Locks rows with `lockSql` in a transaction of its own connection, held until `release()` commits it. */
async function holdRows(lockSql: string, values: unknown[]): Promise<{ release(): Promise<void> }> {
  let release: () => void = () => undefined;
  const released = new Promise<void>((resolve) => (release = resolve));
  let locked: () => void = () => undefined;
  const isLocked = new Promise<void>((resolve) => (locked = resolve));
  const holding = withClient(async (client) => {
    await client.query("BEGIN");
    await client.query(lockSql, values);
    locked();
    await released;
    await client.query("COMMIT");
  });
  await Promise.race([isLocked, holding]);
  return {
    release: async () => {
      release();
      await holding;
    },
  };
}

describe("postgres store: concurrent claimers (separate pools, as separate processes)", () => {
  const opened: PostgresStore[] = [];
  afterEach(async () => {
    await Promise.all(opened.splice(0).map((store) => store.close()));
  });
  const openShared = async (name: string, count: number): Promise<PostgresStore[]> => {
    const { stores } = await openTestPostgresStores(name, count);
    opened.push(...stores);
    return stores;
  };

  it("four claimers taking 1000 items at once get disjoint sets that together cover every item", async () => {
    const stores = await openShared("postgres four claimers 1000 items", 4);
    const first = await startedBatch(stores[0] as PostgresStore, 600);
    const second = await startedBatch(stores[0] as PostgresStore, 400, { createdAtMs: T0 + 5 });
    const claimedBy = new Map<string, string[]>();
    const claimAll = async (store: PostgresStore, owner: string): Promise<number> => {
      let taken = 0;
      for (let round = 0; ; round += 1) {
        const items = await store.claimItems({ owner, model: MODEL, limit: 5 + ((round * 7) % 40), nowMs: T0 + 10, leaseMs: LEASE_MS });
        if (items.length === 0) return taken;
        taken += items.length;
        for (const item of items) {
          const key = `${item.batchId}/${item.index}`;
          claimedBy.set(key, [...(claimedBy.get(key) ?? []), owner]);
        }
      }
    };
    const taken = await Promise.all(stores.map((store, n) => claimAll(store, `w${n}`)));
    const duplicates = [...claimedBy].filter(([, owners]) => owners.length > 1);
    expect(duplicates).toEqual([]);
    expect(claimedBy.size).toBe(1000);
    expect(taken.reduce((sum, n) => sum + n, 0)).toBe(1000);
    // SKIP LOCKED lets them work side by side: more than one claimer got a share.
    expect(taken.filter((n) => n > 0).length).toBeGreaterThan(1);
    for (const batch of [first, second]) {
      const items = await allItems(stores[0] as PostgresStore, batch.id);
      expect(items.every((item) => item.status === "running" && item.attempts === 1)).toBe(true);
    }
  });

  it("claims in FIFO order across batches: an older batch's items come before a newer one's", async () => {
    const [store] = await openShared("postgres claim order across batches", 1);
    const older = await startedBatch(store as PostgresStore, 3);
    const newer = await startedBatch(store as PostgresStore, 3, { createdAtMs: T0 + 5 });
    const items = await (store as PostgresStore).claimItems({ owner: "w", model: MODEL, limit: 5, nowMs: T0 + 10, leaseMs: LEASE_MS });
    expect(items.map((item) => [item.batchId, item.index])).toEqual([
      [older.id, 0],
      [older.id, 1],
      [older.id, 2],
      [newer.id, 0],
      [newer.id, 1],
    ]);
  });

  it("workers claiming and completing concurrently keep every batch's counters equal to its items", async () => {
    const stores = await openShared("postgres concurrent complete counters", 3);
    const batches = [await startedBatch(stores[0] as PostgresStore, 300), await startedBatch(stores[0] as PostgresStore, 300, { createdAtMs: T0 + 1 })];
    const work = async (store: PostgresStore, owner: string): Promise<number> => {
      let applied = 0;
      for (;;) {
        const items: ClaimedItem[] = await store.claimItems({ owner, model: MODEL, limit: 32, nowMs: T0 + 10, leaseMs: LEASE_MS });
        if (items.length === 0) return applied;
        // Each buffer mixes both batches' items and some failures; a stale completion rides along and must be ignored.
        const completions = items.map((item) => completion(item, owner, T0 + 20, item.index % 5 === 0 ? "failed" : "succeeded"));
        const stale = items[0] ? [completion({ ...items[0], attempt: items[0].attempt + 1 }, owner, T0 + 20)] : [];
        applied += await store.completeItems([...completions, ...stale], T0 + 20);
      }
    };
    const applied = await Promise.all(stores.map((store, n) => work(store, `w${n}`)));
    expect(applied.reduce((sum, n) => sum + n, 0)).toBe(600);
    for (const batch of batches) {
      await expectCountsMatchItems(stores[1] as PostgresStore, batch.id);
      expect((await (stores[1] as PostgresStore).getBatch(batch.id))?.counts).toEqual({ total: 300, succeeded: 240, failed: 60, cancelled: 0, expired: 0 });
    }
  });

  it("a cancel racing with reclaim never leaves a pending item in a cancelling batch", async () => {
    const [workerStore, sweeperStore, apiStore] = await openShared("postgres cancel races reclaim", 3);
    const batch = await startedBatch(workerStore as PostgresStore, 200);
    await (workerStore as PostgresStore).claimItems({ owner: "dead", model: MODEL, limit: 200, nowMs: T0 + 10, leaseMs: LEASE_MS });
    const later = T0 + 10 + LEASE_MS + 1;
    await Promise.all([(sweeperStore as PostgresStore).reclaimExpiredItems(later), (apiStore as PostgresStore).cancelBatch(batch.id, later)]);
    const items = await allItems(apiStore as PostgresStore, batch.id);
    // Either the reclaim ran first (items pending, then cancelled by the cancel) or the cancel did (items
    // stay running until the reclaim cancels them): never pending in a cancelling batch.
    expect(items.filter((item) => item.status === "pending")).toEqual([]);
    expect(new Set(items.map((item) => item.status))).toEqual(new Set(["cancelled"]));
    await expectCountsMatchItems(apiStore as PostgresStore, batch.id);
  });

  it("a heartbeat passes over a held Item whose row another transaction has locked, instead of waiting for it", async () => {
    const { schema, stores } = await openTestPostgresStores("postgres renewal skips locked rows", 1);
    opened.push(...stores);
    const store = stores[0] as PostgresStore;
    const batch = await startedBatch(store, 3);
    const held = await store.claimItems({ owner: "w", model: MODEL, limit: 3, nowMs: T0 + 10, leaseMs: LEASE_MS });
    expect(held).toHaveLength(3);
    // Another connection holds Item 1's row (as this Worker's own completion of it would) until released.
    const holder = await holdRows(`SELECT 1 FROM ${pg.escapeIdentifier(schema)}.items WHERE batch_id = $1 AND idx = 1 FOR UPDATE`, [batch.id]);
    const renewed = await Promise.race([
      store.renewItemLeases("w", T0 + 1_000, LEASE_MS, held),
      new Promise<string>((resolve) => setTimeout(() => resolve("waited for the lock"), 3_000)),
    ]);
    await holder.release();
    expect(renewed).toBe(2);
    const leases = (await allItems(store, batch.id)).map((item) => [item.index, item.status]);
    expect(leases).toEqual([
      [0, "running"],
      [1, "running"],
      [2, "running"],
    ]);
    // The next beat renews it.
    expect(await store.renewItemLeases("w", T0 + 2_000, LEASE_MS, held)).toBe(3);
  });

  it("a completion takes the rows of the Batches it counts in id order (two completions cannot deadlock on them)", async () => {
    const { schema, stores } = await openTestPostgresStores("postgres completion locks batches in order", 1);
    opened.push(...stores);
    const store = stores[0] as PostgresStore;
    // The later id is created first, so a plan that takes the rows in table order (a sequential scan of
    // batches) takes the later one first.
    const second = (await startedBatch(store, 2, { batch: { id: "batch_order_z" } })).id;
    const first = (await startedBatch(store, 2, { createdAtMs: T0 + 5, batch: { id: "batch_order_a" } })).id;
    const held = await store.claimItems({ owner: "w", model: MODEL, limit: 4, nowMs: T0 + 10, leaseMs: LEASE_MS });
    expect(held).toHaveLength(4);
    const batchesTable = `${pg.escapeIdentifier(schema)}.batches`;
    // Another transaction holds the later Batch's row; the completion must have taken the earlier one by then.
    const holder = await holdRows(`SELECT 1 FROM ${batchesTable} WHERE id = $1 FOR NO KEY UPDATE`, [second]);
    // Items of the later Batch first: the order the completion lists them in must not matter.
    const ordered = [...held].sort((a, b) => (a.batchId === second ? -1 : 0) - (b.batchId === second ? -1 : 0));
    const completing = store.completeItems(ordered.map((item) => completion(item, "w", T0 + 20)), T0 + 20);
    let earlierTaken = false;
    for (let tries = 0; tries < 50 && !earlierTaken; tries += 1) {
      await new Promise((resolve) => setTimeout(resolve, 20));
      await withClient(async (client) => {
        await client.query("BEGIN");
        earlierTaken = await client.query(`SELECT 1 FROM ${batchesTable} WHERE id = $1 FOR NO KEY UPDATE NOWAIT`, [first]).then(
          () => false,
          (error: { code?: string }) => error.code === "55P03",
        );
        await client.query("ROLLBACK");
      });
    }
    await holder.release();
    expect(earlierTaken).toBe(true);
    expect(await completing).toBe(4);
    for (const id of [first, second]) await expectCountsMatchItems(store, id);
  });
});
