/**
 * The result cache across Batches (issue 10 part 5, migration 015): a succeeded result recorded with
 * `cacheResult` is given to a later Batch's identical Items at startBatch (same tenant, dialect, Model, kind
 * and request hash, young enough), which then never run; nothing else is ever matched.
 */
import { describe, expect, it } from "vitest";
import type { Store } from "../../src/store/store.ts";
import { storeBackends, useStores } from "../helpers/store-backends.ts";
import { allItems, arrangedBatch, completion, expectCountsMatchItems, LEASE_MS, MODEL, okResult, T0, type ItemKeySpec } from "./store-fixtures.ts";

const claim = (owner: string, limit: number, nowMs: number) => ({ owner, model: MODEL, limit, nowMs, leaseMs: LEASE_MS });
const HOUR_MS = 3_600_000;
const CACHED = [{ model: MODEL, notBeforeMs: T0 - HOUR_MS }];
/** h1 twice, h2, and one Item without a hash (never reusable). */
const FIRST: ItemKeySpec[] = [{ requestHash: "h1" }, { requestHash: "h2" }, { requestHash: "h1" }, {}];

/** Runs every claimable Item of the queue to success, asking for its result to be cached or not. */
async function runAll(store: Store, nowMs: number, cacheResult: boolean): Promise<number> {
  const claimed = await store.claimItems(claim("w1", 100, nowMs));
  await store.completeItems(claimed.map((item) => ({ ...completion(item, "w1", nowMs + 1), cacheResult })), nowMs + 1);
  return claimed.length;
}

describe.each(storeBackends)("$name store: result cache across batches", (backend) => {
  const stores = useStores(backend);

  it("gives a later batch's identical items the cached result at start: succeeded, reused, zero usage, never claimed", async () => {
    const store = await stores.open();
    await arrangedBatch(store, FIRST, { resultCache: CACHED });
    expect(await runAll(store, T0 + 10, true)).toBe(3); // the leader of h1, h2 and the unhashed one

    // The second Batch: h1, a new h3, h2, and h1 again.
    const second = await arrangedBatch(store, [{ requestHash: "h1" }, { requestHash: "h3" }, { requestHash: "h2" }, { requestHash: "h1" }], {
      createdAtMs: T0 + 100,
      resultCache: CACHED,
    });
    const items = await allItems(store, second.id);
    expect(items.map((item) => item.status)).toEqual(["succeeded", "pending", "succeeded", "succeeded"]);
    expect(items[0]?.result).toEqual({ ...okResult(T0 + 101), finishedAtMs: T0 + 101, usage: { inputTokens: 0, outputTokens: 0 } });
    expect(second.counts).toMatchObject({ total: 4, succeeded: 3 });
    expect(second.reusedItems).toBe(3);
    expect(second.usage).toEqual({ inputTokens: 0, outputTokens: 0 });
    await expectCountsMatchItems(store, second.id);
    // Only h3 runs.
    const claimed = await store.claimItems(claim("w1", 100, T0 + 200));
    expect(claimed.map((item) => [item.batchId, item.index])).toEqual([[second.id, 1]]);
  });

  it("finalizes at once a batch whose every item was cached", async () => {
    const store = await stores.open();
    await arrangedBatch(store, [{ requestHash: "h1" }, { requestHash: "h2" }], { resultCache: CACHED });
    await runAll(store, T0 + 10, true);
    const again = await arrangedBatch(store, [{ requestHash: "h2" }, { requestHash: "h1" }], { createdAtMs: T0 + 100, resultCache: CACHED });
    expect(again.counts).toMatchObject({ total: 2, succeeded: 2 });
    expect(await store.findBatchesToFinalize(T0 + 200, 10)).toContainEqual({ batchId: again.id, status: "completed" });
  });

  it("matches nothing unless asked: results recorded without cacheResult, failures, another tenant, another dialect or model, too old, or a start without resultCache", async () => {
    const store = await stores.open();
    await arrangedBatch(store, [{ requestHash: "plain" }], { resultCache: CACHED });
    await runAll(store, T0 + 10, false);
    const failing = await arrangedBatch(store, [{ requestHash: "failed" }], { createdAtMs: T0 + 20, resultCache: CACHED });
    const [claimed] = await store.claimItems(claim("w1", 1, T0 + 30));
    await store.completeItems([{ ...completion(claimed!, "w1", T0 + 31, "failed"), cacheResult: true }], T0 + 31);
    expect((await allItems(store, failing.id))[0]?.status).toBe("failed");
    await arrangedBatch(store, [{ requestHash: "kept" }], { createdAtMs: T0 + 40, resultCache: CACHED });
    await runAll(store, T0 + 50, true);

    const hashes: ItemKeySpec[] = [{ requestHash: "plain" }, { requestHash: "failed" }, { requestHash: "kept" }];
    const starts: Array<{ name: string; options: Parameters<typeof arrangedBatch>[2]; statuses: string[] }> = [
      { name: "same tenant and dialect", options: { resultCache: CACHED }, statuses: ["pending", "pending", "succeeded"] },
      { name: "no resultCache", options: {}, statuses: ["pending", "pending", "pending"] },
      { name: "another tenant", options: { resultCache: CACHED, batch: { tenant: "other" } }, statuses: ["pending", "pending", "pending"] },
      { name: "another dialect", options: { resultCache: CACHED, batch: { dialect: "gemini" } }, statuses: ["pending", "pending", "pending"] },
      { name: "another model", options: { resultCache: [{ model: "another-model", notBeforeMs: T0 - HOUR_MS }] }, statuses: ["pending", "pending", "pending"] },
      { name: "too old", options: { resultCache: [{ model: MODEL, notBeforeMs: T0 + 60 }] }, statuses: ["pending", "pending", "pending"] },
    ];
    for (const [offset, start] of starts.entries()) {
      if (start.options?.batch?.tenant !== undefined) await store.ensureTenant(start.options.batch.tenant, T0);
      const batch = await arrangedBatch(store, hashes, { createdAtMs: T0 + 1_000 + offset * 10, ...start.options });
      expect({ name: start.name, statuses: (await allItems(store, batch.id)).map((item) => item.status) }).toEqual({ name: start.name, statuses: start.statuses });
    }
  });

  it("keeps the newest result of a request, and the purge deletes entries too old or of models no longer cached, oldest first", async () => {
    const store = await stores.open();
    await arrangedBatch(store, [{ requestHash: "h1" }, { requestHash: "h2" }], { resultCache: CACHED });
    await runAll(store, T0 + 10, true);
    await arrangedBatch(store, [{ requestHash: "h1" }], { createdAtMs: T0 + 100, resultCache: [] });
    await runAll(store, T0 + 500, true); // h1 again, newer

    // h2 (recorded at T0 + 11) is older than T0 + 100; h1 now dates from T0 + 501.
    expect(await store.purgeResultCache([{ model: MODEL, notBeforeMs: T0 + 100 }], 10)).toBe(1);
    const reused = await arrangedBatch(store, [{ requestHash: "h1" }, { requestHash: "h2" }], { createdAtMs: T0 + 1_000, resultCache: CACHED });
    expect((await allItems(store, reused.id)).map((item) => item.result?.finishedAtMs ?? item.status)).toEqual([T0 + 1_001, "pending"]);
    // The Model's cache turned off: whatever is left goes, a bounded number at a time.
    expect(await store.purgeResultCache([], 10)).toBe(1);
    expect(await store.purgeResultCache([], 10)).toBe(0);
  });
});
