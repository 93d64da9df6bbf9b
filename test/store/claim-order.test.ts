/**
 * Prefix-aware claim order (issue 10): Items sharing a prefix key are claimed back to back, the largest
 * group first, without giving up FIFO across Batches, input order for unrelated prompts, or the return of
 * an Item whose Lease expired to its place.
 */
import { describe, expect, it } from "vitest";
import { storeBackends, useStores } from "../helpers/store-backends.ts";
import { allItems, arrangedBatch, completion, expectCountsMatchItems, LEASE_MS, MODEL, T0, type ItemKeySpec } from "./store-fixtures.ts";

const claim = (owner: string, limit: number, nowMs: number) => ({ owner, model: MODEL, limit, nowMs, leaseMs: LEASE_MS });
const keyed = (...keys: (string | null)[]): ItemKeySpec[] => keys.map((prefixKey) => ({ prefixKey }));

/** Groups: A x3 (from index 0), B x2 (from 1), C x1 (3), D x1 (7); indexes 6 and 8 have no key. */
const INTERLEAVED = keyed("A", "B", "A", "C", "B", "A", null, "D", null);
const INTERLEAVED_ORDER = [0, 2, 5, 1, 4, 3, 6, 7, 8];

describe.each(storeBackends)("$name store: claim order", (backend) => {
  const stores = useStores(backend);

  it("claims Items sharing a prefix key back to back, largest group first, groups of one last in input order", async () => {
    const store = await stores.open();
    const batch = await arrangedBatch(store, INTERLEAVED);
    const first = await store.claimItems(claim("w1", 4, T0 + 10));
    expect(first.map((item) => item.index)).toEqual(INTERLEAVED_ORDER.slice(0, 4));
    expect(first.map((item) => item.prefixKey)).toEqual(["A", "A", "A", "B"]);
    const rest = await store.claimItems(claim("w1", 10, T0 + 11));
    expect(rest.map((item) => item.index)).toEqual(INTERLEAVED_ORDER.slice(4));
    await store.completeItems([...first, ...rest].map((item) => completion(item, "w1", T0 + 12)), T0 + 12);
    // Output order is the index, whatever the claim order was.
    expect((await allItems(store, batch.id)).map((item) => [item.index, item.status])).toEqual(INTERLEAVED.map((_, index) => [index, "succeeded"]));
    await expectCountsMatchItems(store, batch.id);
  });

  it("keeps exact input order for a batch of unrelated prompts (every group of one)", async () => {
    const store = await stores.open();
    await arrangedBatch(store, keyed(...Array.from({ length: 30 }, (_, i) => `unique-${(i * 7919) % 101}`)));
    const claimed = await store.claimItems(claim("w1", 50, T0 + 10));
    expect(claimed.map((item) => item.index)).toEqual(Array.from({ length: 30 }, (_, i) => i));
  });

  it("keeps input order for a batch started without arranging, keys or not", async () => {
    const store = await stores.open();
    await arrangedBatch(store, INTERLEAVED, { arrange: false });
    const claimed = await store.claimItems(claim("w1", 20, T0 + 10));
    expect(claimed.map((item) => item.index)).toEqual(INTERLEAVED.map((_, index) => index));
  });

  it("keeps FIFO across batches: an older batch's items all come first, each batch in its own order", async () => {
    const store = await stores.open();
    const older = await arrangedBatch(store, keyed("X", "Y", "X", "Y", "X"));
    const newer = await arrangedBatch(store, keyed("Z", "W", "W"), { createdAtMs: T0 + 1 });
    const claimed = await store.claimItems(claim("w1", 7, T0 + 10));
    expect(claimed.map((item) => [item.batchId, item.index])).toEqual([
      [older.id, 0],
      [older.id, 2],
      [older.id, 4],
      [older.id, 1],
      [older.id, 3],
      [newer.id, 1],
      [newer.id, 2],
    ]);
  });

  it("claims an item whose lease expired again at its place, before the rest of its group", async () => {
    const store = await stores.open();
    await arrangedBatch(store, INTERLEAVED);
    const [lost] = await store.claimItems(claim("w1", 1, T0 + 10));
    expect(lost?.index).toBe(0);
    const [next] = await store.claimItems(claim("w2", 1, T0 + 20));
    expect(next?.index).toBe(2);
    expect(await store.reclaimExpiredItems(T0 + 10 + LEASE_MS)).toBe(1);
    const again = await store.claimItems(claim("w3", 3, T0 + 10 + LEASE_MS));
    expect(again.map((item) => [item.index, item.attempt])).toEqual([
      [0, 2],
      [5, 1],
      [1, 1],
    ]);
  });

  it("claims by Batch share from where the last claim ended, yet never strands an Item put back below it", async () => {
    // PostgreSQL starts a share claim where this process's last one ended (claim-hints.ts); SQLite walks
    // from the start. Either way: this process's requeue is claimed next, another's within a second or as
    // soon as the walk from the hint comes back short, and nothing is left pending.
    const [here, there] = await stores.openShared(2);
    const batch = await arrangedBatch(here!, keyed(...Array.from({ length: 10 }, () => null)), { arrange: false });
    const share = (owner: string, limit: number, nowMs: number, leaseMs = LEASE_MS) =>
      ({ owner, model: MODEL, limit, nowMs, leaseMs, batches: [{ batchSeq: batch.seq, limit }] });
    const indexes = (items: { index: number }[]): number[] => items.map((item) => item.index);

    expect(indexes(await here!.claimItems(share("w1", 3, T0 + 10, 5)))).toEqual([0, 1, 2]);
    expect(indexes(await here!.claimItems(share("w1", 2, T0 + 11)))).toEqual([3, 4]);
    // This process puts 0-2 back: its next claim takes them first.
    expect(await here!.reclaimExpiredItems(T0 + 20)).toBe(3);
    expect(indexes(await here!.claimItems(share("w1", 2, T0 + 21, 5)))).toEqual([0, 1]);
    // Another process puts 0 and 1 back. Within the second: not lost, found once the rest runs short.
    expect(await there!.reclaimExpiredItems(T0 + 30)).toBe(2);
    const rest = await here!.claimItems(share("w1", 10, T0 + 31));
    expect(indexes(rest).sort((a, b) => a - b)).toEqual([0, 1, 2, 5, 6, 7, 8, 9]);
    expect((await allItems(here!, batch.id)).every((item) => item.status === "running")).toBe(true);
  });

  it("claims by Batch share an Item another process put back first once a second has passed", async () => {
    const [here, there] = await stores.openShared(2);
    const batch = await arrangedBatch(here!, keyed(...Array.from({ length: 10 }, () => null)), { arrange: false });
    const share = (limit: number, nowMs: number, leaseMs = LEASE_MS) =>
      ({ owner: "w1", model: MODEL, limit, nowMs, leaseMs, batches: [{ batchSeq: batch.seq, limit }] });
    expect((await here!.claimItems(share(1, T0 + 10, 5))).map((item) => item.index)).toEqual([0]);
    expect((await here!.claimItems(share(3, T0 + 11))).map((item) => item.index)).toEqual([1, 2, 3]);
    expect(await there!.reclaimExpiredItems(T0 + 20)).toBe(1);
    expect((await here!.claimItems(share(1, T0 + 1_100))).map((item) => item.index)).toEqual([0]);
  });

  it("hands an arranged batch to concurrent claimers on separate connections without handing any item out twice", async () => {
    const [storeA, storeB] = await stores.openShared(2);
    const keys = keyed(...Array.from({ length: 300 }, (_, i) => `group-${i % 7}`));
    const batch = await arrangedBatch(storeA!, keys);
    const claimedBy = new Map<number, string>();
    const loop = async (store: typeof storeA, owner: string): Promise<void> => {
      for (;;) {
        const items = await store!.claimItems(claim(owner, 9, T0 + 10));
        if (items.length === 0) return;
        for (const item of items) {
          expect(claimedBy.has(item.index)).toBe(false);
          claimedBy.set(item.index, owner);
        }
      }
    };
    await Promise.all([loop(storeA, "w1"), loop(storeB, "w2"), loop(storeA, "w3"), loop(storeB, "w4")]);
    expect(claimedBy.size).toBe(300);
    expect((await allItems(storeA!, batch.id)).every((item) => item.status === "running" && item.attempts === 1)).toBe(true);
  });
});
