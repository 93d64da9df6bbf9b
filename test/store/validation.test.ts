import { describe, expect, it } from "vitest";
import type { LineError } from "../../src/core/types.ts";
import { storeBackends, useStores } from "../helpers/store-backends.ts";
import { allItems, errorResult, expectCountsMatchItems, LEASE_MS, MODEL, newBatch, newItems, T0 } from "./store-fixtures.ts";

const lineError: LineError = { line: 2, code: "invalid_json", message: "Line 2 is not valid JSON.", param: null };

describe.each(storeBackends)("$name store: validation", (backend) => {
  const stores = useStores(backend);

  it("hands a validating batch to one validator at a time, oldest first", async () => {
    const store = await stores.open();
    const older = await store.createBatch(newBatch());
    const newer = await store.createBatch(newBatch());
    const first = await store.claimValidation({ owner: "v1", nowMs: T0, leaseMs: LEASE_MS });
    const second = await store.claimValidation({ owner: "v2", nowMs: T0, leaseMs: LEASE_MS });
    expect(first?.id).toBe(older.id);
    expect(second?.id).toBe(newer.id);
    expect(await store.claimValidation({ owner: "v3", nowMs: T0 + 1, leaseMs: LEASE_MS })).toBeNull();
  });

  it("lets another validator take a batch whose lease expired, and the old one can no longer renew or start it", async () => {
    const store = await stores.open();
    const batch = await store.createBatch(newBatch());
    await store.claimValidation({ owner: "v1", nowMs: T0, leaseMs: LEASE_MS });
    expect(await store.renewBatchLease(batch.id, { owner: "v1", nowMs: T0 + 10_000, leaseMs: LEASE_MS })).toBe(true);
    // Renewed to T0 + 40 s: still held at T0 + 39 s.
    expect(await store.claimValidation({ owner: "v2", nowMs: T0 + 39_999, leaseMs: LEASE_MS })).toBeNull();
    const taken = await store.claimValidation({ owner: "v2", nowMs: T0 + 40_000, leaseMs: LEASE_MS });
    expect(taken?.id).toBe(batch.id);
    expect(await store.renewBatchLease(batch.id, { owner: "v1", nowMs: T0 + 40_001, leaseMs: LEASE_MS })).toBe(false);
    expect(await store.startBatch(batch.id, { owner: "v1", total: 0, model: MODEL, errors: null, nowMs: T0 + 40_002 })).toBeNull();
    expect(await store.failBatch(batch.id, { owner: "v1", errors: [lineError], nowMs: T0 + 40_002 })).toBeNull();
    expect((await store.getBatch(batch.id))?.status).toBe("validating");
  });

  it("clears the items of an interrupted validation and zeroes the counts", async () => {
    const store = await stores.open();
    const batch = await store.createBatch(newBatch({ invalidLinePolicy: "skip" }));
    await store.claimValidation({ owner: "v1", nowMs: T0, leaseMs: LEASE_MS });
    await store.insertItems(batch.id, [...newItems(2), { ...newItems(1, { from: 2 })[0]!, result: errorResult(T0) }]);
    expect((await store.getBatch(batch.id))?.counts).toMatchObject({ total: 3, failed: 1 });
    await store.clearItems(batch.id);
    expect(await allItems(store, batch.id)).toEqual([]);
    expect((await store.getBatch(batch.id))?.counts).toEqual({ total: 0, succeeded: 0, failed: 0, cancelled: 0, expired: 0 });
  });

  it("inserts items as pending, claimable only once startBatch makes the batch in_progress, with total, model and errors set", async () => {
    const store = await stores.open();
    const batch = await store.createBatch(newBatch({ invalidLinePolicy: "skip" }));
    await store.claimValidation({ owner: "v1", nowMs: T0, leaseMs: LEASE_MS });
    const items = newItems(3);
    await store.insertItems(batch.id, [items[0]!, { ...items[1]!, result: errorResult(T0) }]);
    await store.insertItems(batch.id, [items[2]!]);
    expect((await allItems(store, batch.id)).map((item) => item.status)).toEqual(["pending", "failed", "pending"]);
    // Neither claim takes them while the batch validates (decision 0049), nor does the scheduler queue it.
    expect(await store.claimItems({ owner: "w", model: MODEL, limit: 10, nowMs: T0, leaseMs: LEASE_MS })).toEqual([]);
    expect(await store.claimItems({ owner: "w", model: MODEL, limit: 10, nowMs: T0, leaseMs: LEASE_MS, batches: [{ batchSeq: batch.seq, limit: 10 }] })).toEqual([]);
    expect(await store.queuedBatches(MODEL, 10)).toEqual([]);
    expect(await store.queueStats()).toEqual([]);

    const started = await store.startBatch(batch.id, { owner: "v1", total: 3, model: MODEL, errors: [lineError], nowMs: T0 + 5 });
    expect(started).toMatchObject({ status: "in_progress", model: MODEL, errors: [lineError], inProgressAtMs: T0 + 5, updatedAtMs: T0 + 5 });
    expect(started?.counts).toEqual({ total: 3, succeeded: 0, failed: 1, cancelled: 0, expired: 0 });
    const stored = await allItems(store, batch.id);
    expect(stored.map((item) => item.status)).toEqual(["pending", "failed", "pending"]);
    expect(stored[0]).toEqual({ batchId: batch.id, index: 0, clientId: "req-0", echo: null, model: MODEL, kind: "chat", status: "pending", attempts: 0, result: null });
    expect(stored[1]?.result).toEqual(errorResult(T0));
    // The request is kept apart from the Item (migration 005) and comes back with the claim.
    const claimed = await store.claimItems({ owner: "w", model: MODEL, limit: 10, nowMs: T0 + 6, leaseMs: LEASE_MS });
    expect(claimed.map((item) => [item.index, item.request])).toEqual([[0, items[0]!.request], [2, items[2]!.request]]);
    expect(await store.claimValidation({ owner: "v2", nowMs: T0 + LEASE_MS * 2, leaseMs: LEASE_MS })).toBeNull();
    await expectCountsMatchItems(store, batch.id);
  });

  it("startBatch inserts the input's last items in its own transaction, arranged and counted like inserted ones, and only while the lease is held", async () => {
    const store = await stores.open();
    const batch = await store.createBatch(newBatch({ invalidLinePolicy: "skip" }));
    await store.claimValidation({ owner: "v1", nowMs: T0, leaseMs: LEASE_MS });
    // Two prefix groups, interleaved: the arrangement puts the larger group (b) first.
    const keyed = newItems(5).map((item) => ({ ...item, prefixKey: item.index % 2 === 0 ? "b" : "a" }));
    await store.insertItems(batch.id, keyed.slice(0, 2));
    const last = [...keyed.slice(2, 4), { ...keyed[4]!, prefixKey: undefined, result: errorResult(T0) }];

    expect(await store.startBatch(batch.id, { owner: "v2", total: 5, model: MODEL, errors: null, nowMs: T0 + 4, items: last })).toBeNull();
    expect((await store.getBatch(batch.id))?.counts.total).toBe(2);

    const started = await store.startBatch(batch.id, { owner: "v1", total: 5, model: MODEL, errors: [lineError], nowMs: T0 + 5, arrange: true, items: last });
    expect(started?.counts).toEqual({ total: 5, succeeded: 0, failed: 1, cancelled: 0, expired: 0 });
    expect((await allItems(store, batch.id)).map((item) => item.status)).toEqual(["pending", "pending", "pending", "pending", "failed"]);
    const claimed = await store.claimItems({ owner: "w", model: MODEL, limit: 10, nowMs: T0 + 6, leaseMs: LEASE_MS, batches: [{ batchSeq: started!.seq, limit: 10 }] });
    expect(claimed.map((item) => item.index)).toEqual([0, 2, 1, 3]);
    expect(claimed.find((item) => item.index === 3)?.request).toBe(keyed[3]!.request);
    await expectCountsMatchItems(store, batch.id);
  });

  it("inserts a large chunk with failed lines scattered through it, keeping every field and the counts", async () => {
    const store = await stores.open();
    const batch = await store.createBatch(newBatch({ invalidLinePolicy: "skip" }));
    await store.claimValidation({ owner: "v1", nowMs: T0, leaseMs: LEASE_MS });
    const items = newItems(123).map((item) => (item.index % 40 === 7 ? { ...item, echo: '{"k":1}', result: errorResult(T0 + item.index) } : item));
    await store.insertItems(batch.id, items);
    const stored = await allItems(store, batch.id);
    expect(stored.map((item) => item.index)).toEqual(items.map((item) => item.index));
    expect(stored.filter((item) => item.status === "failed").map((item) => [item.index, item.echo, item.result?.finishedAtMs])).toEqual([
      [7, '{"k":1}', T0 + 7],
      [47, '{"k":1}', T0 + 47],
      [87, '{"k":1}', T0 + 87],
    ]);
    expect(stored[122]).toMatchObject({ clientId: "req-122", status: "pending" });
    expect((await store.getBatch(batch.id))?.counts).toMatchObject({ total: 123, failed: 3 });
    await expectCountsMatchItems(store, batch.id);
    await store.startBatch(batch.id, { owner: "v1", total: 123, model: MODEL, errors: null, nowMs: T0 + 200 });
    const claimed = await store.claimItems({ owner: "w", model: MODEL, limit: 200, nowMs: T0 + 201, leaseMs: LEASE_MS });
    const runnable = items.filter((item) => !item.result);
    expect(claimed.map((item) => [item.index, item.request])).toEqual(runnable.map((item) => [item.index, item.request]));
  });

  it("failBatch ends validation as failed with every line error and no items left", async () => {
    const store = await stores.open();
    const batch = await store.createBatch(newBatch());
    await store.claimValidation({ owner: "v1", nowMs: T0, leaseMs: LEASE_MS });
    await store.insertItems(batch.id, newItems(2));
    const errors = [lineError, { ...lineError, line: 5 }];
    const failed = await store.failBatch(batch.id, { owner: "v1", errors, nowMs: T0 + 7 });
    expect(failed).toMatchObject({ status: "failed", failedAtMs: T0 + 7, updatedAtMs: T0 + 7, errors });
    expect(failed?.counts.total).toBe(0);
    expect(await allItems(store, batch.id)).toEqual([]);
    expect(await store.claimValidation({ owner: "v2", nowMs: T0 + LEASE_MS * 2, leaseMs: LEASE_MS })).toBeNull();
    expect(await store.findBatchesToFinalize(T0 + LEASE_MS * 2, 10)).toEqual([]);
  });

  it("failBatch on a batch cancelled during validation leaves it to be finalized as cancelled", async () => {
    const store = await stores.open();
    const batch = await store.createBatch(newBatch());
    await store.claimValidation({ owner: "v1", nowMs: T0, leaseMs: LEASE_MS });
    await store.cancelBatch(batch.id, T0 + 1);
    const result = await store.failBatch(batch.id, { owner: "v1", errors: [lineError], nowMs: T0 + 2 });
    expect(result?.status).toBe("cancelling");
    expect(await store.findBatchesToFinalize(T0 + 3, 10)).toEqual([{ batchId: batch.id, status: "cancelled" }]);
  });

  it("a batch cancelled while its validator died is finalized once the lease expires, its leftover items cancelled", async () => {
    const store = await stores.open();
    const batch = await store.createBatch(newBatch());
    await store.claimValidation({ owner: "v1", nowMs: T0, leaseMs: LEASE_MS });
    await store.cancelBatch(batch.id, T0 + 1);
    await store.insertItems(batch.id, newItems(2));
    expect(await store.findBatchesToFinalize(T0 + LEASE_MS - 1, 10)).toEqual([]);
    expect(await store.findBatchesToFinalize(T0 + LEASE_MS, 10)).toEqual([{ batchId: batch.id, status: "cancelled" }]);
    const claimed = await store.claimFinalization(batch.id, { owner: "f", nowMs: T0 + LEASE_MS, leaseMs: LEASE_MS });
    expect(claimed?.counts).toMatchObject({ total: 2, cancelled: 2 });
    expect((await allItems(store, batch.id)).map((item) => item.status)).toEqual(["cancelled", "cancelled"]);
    await expectCountsMatchItems(store, batch.id);
  });
});
