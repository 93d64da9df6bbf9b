/**
 * The scheduler's Store operations (issue 12), on every backend: the Batches queued on a Model, the claim
 * restricted to chosen Batches with a limit each (the Worker's fair share), and the measured throughput
 * each process reports and every process reads.
 */
import { describe, expect, it } from "vitest";
import { storeBackends, useStores } from "../helpers/store-backends.ts";
import { allItems, arrangedBatch, completion, DAY_MS, expectCountsMatchItems, LEASE_MS, MODEL, newBatch, newItems, startedBatch, T0 } from "./store-fixtures.ts";

const claim = (owner: string, limit: number, nowMs: number, batches?: { batchSeq: number; limit: number }[]) => ({ owner, model: MODEL, limit, nowMs, leaseMs: LEASE_MS, batches });

describe.each(storeBackends)("$name store: scheduling", (backend) => {
  const stores = useStores(backend);

  it("lists the batches with claimable items of a model, oldest first, with priority, deadline and remaining items", async () => {
    const store = await stores.open();
    const first = await startedBatch(store, 5, { batch: { priority: 3 }, expiresAtMs: T0 + 3_600_000 });
    const otherModel = await startedBatch(store, 4, { model: "other-model", createdAtMs: T0 + 1 });
    const second = await startedBatch(store, 2, { createdAtMs: T0 + 2, batch: { priority: -1 } });
    const third = await startedBatch(store, 1, { createdAtMs: T0 + 3 });

    const running = await store.claimItems(claim("w1", 2, T0 + 10, [{ batchSeq: first.seq, limit: 2 }]));
    await store.completeItems([completion(running[0]!, "w1", T0 + 11)], T0 + 11);
    // All of `third`'s Items running: nothing of it left to claim, so it is not queued.
    await store.claimItems(claim("w1", 1, T0 + 12, [{ batchSeq: third.seq, limit: 1 }]));

    const queued = await store.queuedBatches(MODEL, 10);
    expect(queued).toEqual([
      { id: first.id, tenant: "default", seq: first.seq, priority: 3, createdAtMs: T0, expiresAtMs: T0 + 3_600_000, remaining: 4 },
      { id: second.id, tenant: "default", seq: second.seq, priority: -1, createdAtMs: T0 + 2, expiresAtMs: T0 + 2 + DAY_MS, remaining: 2 },
    ]);
    expect((await store.queuedBatches("other-model", 10)).map((batch) => batch.id)).toEqual([otherModel.id]);
    expect((await store.queuedBatches(MODEL, 1)).map((batch) => batch.id)).toEqual([first.id]);
    expect(await store.queuedBatches("no-such-model", 10)).toEqual([]);
  });

  it("leaves out a batch whose only pending items are followers waiting for a running leader", async () => {
    const store = await stores.open();
    const batch = await arrangedBatch(store, [{ requestHash: "same" }, { requestHash: "same" }, { requestHash: "same" }]);
    expect((await store.queuedBatches(MODEL, 10)).map((queued) => [queued.id, queued.remaining])).toEqual([[batch.id, 3]]);
    const [leader] = await store.claimItems(claim("w1", 5, T0 + 10, [{ batchSeq: batch.seq, limit: 5 }]));
    expect(leader?.index).toBe(0);
    expect(await store.queuedBatches(MODEL, 10)).toEqual([]);
  });

  it("leaves out batches whose items are pending but not yet claimable (validating), and still finds `limit` queued ones behind them", async () => {
    const store = await stores.open();
    // Older than the started ones, so the walk of the claim index meets its Items first.
    const validating = await store.createBatch(newBatch({ createdAtMs: T0 - 10 }));
    await store.claimValidation({ owner: "v", nowMs: T0, leaseMs: LEASE_MS });
    await store.insertItems(validating.id, newItems(3));
    const first = await startedBatch(store, 2, { createdAtMs: T0 + 1 });
    const second = await startedBatch(store, 2, { createdAtMs: T0 + 2 });

    expect((await store.queuedBatches(MODEL, 1)).map((batch) => batch.id)).toEqual([first.id]);
    expect((await store.queuedBatches(MODEL, 10)).map((batch) => batch.id)).toEqual([first.id, second.id]);
    expect(await store.queueStats()).toEqual([{ model: MODEL, pending: 4, running: 0, oldestPendingSinceMs: expect.any(Number) }]);
    // A claim naming the validating Batch (a plan made from an older read) takes nothing of it, with one Batch or several.
    expect(await store.claimItems(claim("w1", 5, T0 + 10, [{ batchSeq: validating.seq, limit: 5 }]))).toEqual([]);
    const claimed = await store.claimItems(claim("w1", 5, T0 + 10, [{ batchSeq: validating.seq, limit: 3 }, { batchSeq: second.seq, limit: 2 }]));
    expect(claimed.map((item) => item.batchId)).toEqual([second.id, second.id]);
    expect((await store.claimItems(claim("w1", 5, T0 + 11))).map((item) => item.batchId)).toEqual([first.id, first.id]);
    expect((await allItems(store, validating.id)).map((item) => item.status)).toEqual(["pending", "pending", "pending"]);
  });

  it("claims only from the chosen batches, at most each one's limit, batch after batch in the order given", async () => {
    const store = await stores.open();
    const older = await startedBatch(store, 10);
    const middle = await startedBatch(store, 10, { createdAtMs: T0 + 1 });
    const newer = await startedBatch(store, 3, { createdAtMs: T0 + 2 });
    const claimed = await store.claimItems(claim("w1", 20, T0 + 10, [{ batchSeq: newer.seq, limit: 5 }, { batchSeq: older.seq, limit: 4 }]));
    // `newer` has only 3: the claim takes what there is and moves on; `middle` was not chosen.
    expect(claimed.map((item) => [item.batchId, item.index])).toEqual([
      [newer.id, 0], [newer.id, 1], [newer.id, 2],
      [older.id, 0], [older.id, 1], [older.id, 2], [older.id, 3],
    ]);
    expect(claimed.every((item) => item.attempt === 1 && item.request.includes("hello"))).toBe(true);
    expect((await allItems(store, middle.id)).every((item) => item.status === "pending")).toBe(true);
    // The total limit still bounds the claim.
    const capped = await store.claimItems(claim("w1", 3, T0 + 11, [{ batchSeq: middle.seq, limit: 2 }, { batchSeq: older.seq, limit: 5 }]));
    expect(capped.map((item) => [item.batchId, item.index])).toEqual([[middle.id, 0], [middle.id, 1], [older.id, 4]]);
    expect(await store.claimItems(claim("w1", 5, T0 + 12, []))).toEqual([]);
    await store.completeItems([...claimed, ...capped].map((item) => completion(item, "w1", T0 + 13)), T0 + 13);
    for (const batch of [older, middle, newer]) await expectCountsMatchItems(store, batch.id);
  });

  it("keeps each batch's prefix-aware claim order inside its share", async () => {
    const store = await stores.open();
    const batch = await arrangedBatch(store, ["A", "B", "A", "C", "B", "A"].map((prefixKey) => ({ prefixKey })));
    const first = await store.claimItems(claim("w1", 4, T0 + 10, [{ batchSeq: batch.seq, limit: 4 }]));
    const rest = await store.claimItems(claim("w1", 4, T0 + 11, [{ batchSeq: batch.seq, limit: 4 }]));
    expect([...first, ...rest].map((item) => item.prefixKey)).toEqual(["A", "A", "A", "B", "B", "C"]);
  });

  it("hands the items of chosen batches to concurrent claimers on separate connections without handing any out twice", async () => {
    const [storeA, storeB] = await stores.openShared(2);
    const batches = [await startedBatch(storeA!, 120), await startedBatch(storeA!, 80, { createdAtMs: T0 + 1 })];
    const claimedBy = new Map<string, string>();
    const loop = async (store: typeof storeA, owner: string): Promise<void> => {
      for (;;) {
        const items = await store!.claimItems(claim(owner, 7, T0 + 10, batches.map((batch) => ({ batchSeq: batch.seq, limit: 4 }))));
        if (items.length === 0) return;
        for (const item of items) {
          const key = `${item.batchId}:${item.index}`;
          expect(claimedBy.has(key)).toBe(false);
          claimedBy.set(key, owner);
        }
      }
    };
    await Promise.all([loop(storeA, "w1"), loop(storeB, "w2"), loop(storeA, "w3"), loop(storeB, "w4")]);
    expect(claimedBy.size).toBe(200);
  });

  it("sums the throughput reports of the latest round, one per process, and forgets reports a day old", async () => {
    const store = await stores.open();
    expect(await store.modelThroughput(MODEL, 5_000)).toBeNull();
    await store.recordThroughput({ owner: "gone", model: MODEL, itemsPerSecond: 1_000, nowMs: T0 });
    await store.recordThroughput({ owner: "p1", model: MODEL, itemsPerSecond: 40, nowMs: T0 + 60_000 });
    await store.recordThroughput({ owner: "p2", model: MODEL, itemsPerSecond: 25.5, nowMs: T0 + 62_000 });
    await store.recordThroughput({ owner: "p1", model: "other-model", itemsPerSecond: 7, nowMs: T0 + 62_000 });
    // The process that reported a minute before the others is not part of the latest round.
    expect(await store.modelThroughput(MODEL, 5_000)).toEqual({ itemsPerSecond: 65.5, measuredAtMs: T0 + 62_000 });
    // A report replaces the same process's previous one.
    await store.recordThroughput({ owner: "p1", model: MODEL, itemsPerSecond: 50, nowMs: T0 + 63_000 });
    expect(await store.modelThroughput(MODEL, 5_000)).toEqual({ itemsPerSecond: 75.5, measuredAtMs: T0 + 63_000 });
    expect(await store.modelThroughput(MODEL, 120_000)).toEqual({ itemsPerSecond: 1_075.5, measuredAtMs: T0 + 63_000 });
    // However old, the latest round is the best guess there is.
    expect(await store.modelThroughput("other-model", 5_000)).toEqual({ itemsPerSecond: 7, measuredAtMs: T0 + 62_000 });
    await store.recordThroughput({ owner: "p2", model: MODEL, itemsPerSecond: 30, nowMs: T0 + DAY_MS + 30_000 });
    expect(await store.modelThroughput(MODEL, 2 * DAY_MS)).toEqual({ itemsPerSecond: 80, measuredAtMs: T0 + DAY_MS + 30_000 });
  });
});
