/**
 * Duplicate reuse (issue 10): of Items with the same request hash the first runs and the others (its
 * followers) are never claimed; they take a copy of the leader's result when it is recorded, and never end
 * without one: cancel and expiry treat them as pending, a crashed leader fails them with it, a retry
 * makes them wait again.
 */
import { describe, expect, it } from "vitest";
import { storeBackends, useStores } from "../helpers/store-backends.ts";
import { allItems, arrangedBatch, completion, errorResult, expectCountsMatchItems, LEASE_MS, MODEL, okResult, T0, type ItemKeySpec } from "./store-fixtures.ts";

const claim = (owner: string, limit: number, nowMs: number) => ({ owner, model: MODEL, limit, nowMs, leaseMs: LEASE_MS });

/** Index 0 leads 2 and 3 (hash h1); 1 is unique (h2); 4 has no hash (never reused). */
const WITH_DUPLICATES: ItemKeySpec[] = [{ requestHash: "h1" }, { requestHash: "h2" }, { requestHash: "h1" }, { requestHash: "h1" }, {}];

describe.each(storeBackends)("$name store: duplicate reuse", (backend) => {
  const stores = useStores(backend);

  it("never claims a follower; the leader's result is copied to it, counted succeeded and reused, with zero usage", async () => {
    const store = await stores.open();
    const batch = await arrangedBatch(store, WITH_DUPLICATES);
    const claimed = await store.claimItems(claim("w1", 10, T0 + 10));
    expect(claimed.map((item) => item.index)).toEqual([0, 1, 4]);
    const leader = claimed[0]!;
    expect(await store.completeItems([completion(leader, "w1", T0 + 20)], T0 + 21)).toBe(1);

    const items = await allItems(store, batch.id);
    expect(items.map((item) => item.status)).toEqual(["succeeded", "running", "succeeded", "succeeded", "running"]);
    const copy = { ...okResult(T0 + 20), usage: { inputTokens: 0, outputTokens: 0 } };
    expect(items[2]).toMatchObject({ clientId: "req-2", attempts: 0, result: copy });
    expect(items[3]).toMatchObject({ clientId: "req-3", attempts: 0, result: copy });
    const after = await store.getBatch(batch.id);
    expect(after?.counts).toMatchObject({ total: 5, succeeded: 3 });
    expect(after?.reusedItems).toBe(2);
    expect(after?.usage).toEqual(okResult(0).usage);
    await expectCountsMatchItems(store, batch.id);

    await store.completeItems(claimed.slice(1).map((item) => completion(item, "w1", T0 + 30)), T0 + 30);
    expect(await store.findBatchesToFinalize(T0 + 31, 10)).toEqual([{ batchId: batch.id, status: "completed" }]);
  });

  it("fails the followers of a failed leader with the same result", async () => {
    const store = await stores.open();
    const batch = await arrangedBatch(store, WITH_DUPLICATES);
    const [leader] = await store.claimItems(claim("w1", 1, T0 + 10));
    await store.completeItems([completion(leader!, "w1", T0 + 20, "failed")], T0 + 20);
    const items = await allItems(store, batch.id);
    expect(items.filter((item) => item.status === "failed").map((item) => item.index)).toEqual([0, 2, 3]);
    expect(items[3]?.result).toEqual(errorResult(T0 + 20));
    expect((await store.getBatch(batch.id))?.reusedItems).toBe(2);
    await expectCountsMatchItems(store, batch.id);
  });

  it("ignores a stale completion of a leader: its followers keep waiting for the one that counts", async () => {
    const store = await stores.open();
    const batch = await arrangedBatch(store, WITH_DUPLICATES);
    const [first] = await store.claimItems(claim("w1", 1, T0 + 10));
    await store.reclaimExpiredItems(T0 + 10 + LEASE_MS);
    const [second] = await store.claimItems(claim("w2", 1, T0 + 10 + LEASE_MS));
    expect(second).toMatchObject({ index: 0, attempt: 2 });
    expect(await store.completeItems([completion(first!, "w1", T0 + 50_000)], T0 + 50_000)).toBe(0);
    expect((await allItems(store, batch.id)).map((item) => item.status)).toEqual(["running", "pending", "pending", "pending", "pending"]);
    await store.completeItems([completion(second!, "w2", T0 + 50_001)], T0 + 50_001);
    expect((await allItems(store, batch.id)).map((item) => item.status)).toEqual(["succeeded", "pending", "succeeded", "succeeded", "pending"]);
    await expectCountsMatchItems(store, batch.id);
  });

  it("fails the followers of a leader that crashed its workers maxAttempts times", async () => {
    const store = await stores.open();
    const batch = await arrangedBatch(store, WITH_DUPLICATES);
    await store.claimItems(claim("w1", 1, T0 + 10));
    const crashed = { ...errorResult(T0 + 10 + LEASE_MS, "item_crashed"), statusCode: null };
    expect(await store.failExhaustedItems(1, T0 + 10 + LEASE_MS, crashed)).toBe(1);
    const items = await allItems(store, batch.id);
    expect(items.map((item) => item.status)).toEqual(["failed", "pending", "failed", "failed", "pending"]);
    expect(items[2]?.result).toEqual({ ...crashed, usage: { inputTokens: 0, outputTokens: 0 } });
    await expectCountsMatchItems(store, batch.id);
  });

  it("cancels waiting followers with the batch while their leader runs, and the leader's late result leaves them cancelled", async () => {
    const store = await stores.open();
    const batch = await arrangedBatch(store, WITH_DUPLICATES);
    const [leader] = await store.claimItems(claim("w1", 1, T0 + 10));
    await store.cancelBatch(batch.id, T0 + 20);
    expect((await allItems(store, batch.id)).map((item) => item.status)).toEqual(["running", "cancelled", "cancelled", "cancelled", "cancelled"]);
    expect(await store.completeItems([completion(leader!, "w1", T0 + 30)], T0 + 30)).toBe(1);
    expect((await allItems(store, batch.id)).map((item) => item.status)).toEqual(["succeeded", "cancelled", "cancelled", "cancelled", "cancelled"]);
    expect((await store.getBatch(batch.id))?.reusedItems).toBe(0);
    await expectCountsMatchItems(store, batch.id);
    expect(await store.findBatchesToFinalize(T0 + 31, 10)).toEqual([{ batchId: batch.id, status: "cancelled" }]);
  });

  it("expires waiting followers with the batch like pending items", async () => {
    const store = await stores.open();
    const batch = await arrangedBatch(store, WITH_DUPLICATES);
    const [leader] = await store.claimItems(claim("w1", 1, T0 + 10));
    expect(await store.expireBatches(T0 + 2 * 24 * 3600 * 1000, errorResult(T0, "batch_expired"))).toEqual([batch.id]);
    expect((await allItems(store, batch.id)).map((item) => item.status)).toEqual(["running", "expired", "expired", "expired", "expired"]);
    await store.completeItems([completion(leader!, "w1", T0 + 30)], T0 + 30);
    await expectCountsMatchItems(store, batch.id);
    expect(await store.findBatchesToFinalize(T0 + 31, 10)).toEqual([{ batchId: batch.id, status: "expired" }]);
  });

  it("retries a failed leader with its followers: they wait again and take the new result, reused counted once", async () => {
    const store = await stores.open();
    const batch = await arrangedBatch(store, WITH_DUPLICATES);
    const first = await store.claimItems(claim("w1", 10, T0 + 10));
    await store.completeItems(first.map((item) => completion(item, "w1", T0 + 20, item.index === 0 ? "failed" : "succeeded")), T0 + 20);
    await store.claimFinalization(batch.id, { owner: "sweeper", nowMs: T0 + 21, leaseMs: LEASE_MS });
    await store.finishBatch(batch.id, "sweeper", { status: "completed", outputFileId: null, errorFileId: null, nowMs: T0 + 22 });

    const retried = await store.retryFailedItems(batch.id, T0 + 30);
    expect(retried.counts).toMatchObject({ succeeded: 2, failed: 0 });
    expect(retried.reusedItems).toBe(0);
    const again = await store.claimItems(claim("w2", 10, T0 + 40));
    expect(again.map((item) => item.index)).toEqual([0]);
    await store.completeItems([completion(again[0]!, "w2", T0 + 50)], T0 + 50);
    const items = await allItems(store, batch.id);
    expect(items.map((item) => item.status)).toEqual(Array(5).fill("succeeded"));
    expect(items[3]?.result?.finishedAtMs).toBe(T0 + 50);
    expect((await store.getBatch(batch.id))?.reusedItems).toBe(2);
    await expectCountsMatchItems(store, batch.id);
  });

  it("keeps counts consistent when leaders complete while another process cancels their batches", async () => {
    const [worker, canceller] = await stores.openShared(2);
    const batches = [];
    for (let b = 0; b < 6; b += 1) {
      batches.push(await arrangedBatch(worker!, Array.from({ length: 40 }, (_, i) => ({ requestHash: `h${i % 10}`, prefixKey: `p${i % 3}` })), { createdAtMs: T0 + b }));
    }
    const claimed = await worker!.claimItems(claim("w1", 100, T0 + 10));
    expect(claimed).toHaveLength(60);
    await Promise.all([
      ...claimed.map((item, n) => worker!.completeItems([completion(item, "w1", T0 + 20 + n)], T0 + 20 + n)),
      ...batches.filter((_, b) => b % 2 === 0).map((batch) => canceller!.cancelBatch(batch.id, T0 + 25)),
    ]);
    for (const batch of batches) {
      const items = await allItems(worker!, batch.id);
      expect(items.every((item) => item.result !== null)).toBe(true);
      await expectCountsMatchItems(worker!, batch.id);
    }
  });
});
