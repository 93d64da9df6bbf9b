/**
 * The operators' read views on every Store backend: Batches by status, the queue per Model, a Batch's
 * timeline, failures by code, client-id search, and the list filters the dashboard pages with.
 */
import { describe, expect, it } from "vitest";
import { storeBackends, useStores } from "../helpers/store-backends.ts";
import { completion, errorResult, LEASE_MS, MODEL, newBatch, okResult, startedBatch, T0 } from "./store-fixtures.ts";

const claim = (owner: string, limit: number, nowMs: number, model = MODEL) => ({ owner, model, limit, nowMs, leaseMs: LEASE_MS });

describe.each(storeBackends)("$name store: insights", (backend) => {
  const stores = useStores(backend);

  it("counts batches by status, every status present, deleted ones left out", async () => {
    const store = await stores.open();
    const running = await startedBatch(store, 1, { createdAtMs: T0 + 1 });
    const deleted = await startedBatch(store, 1, { createdAtMs: T0 + 2 });
    await store.createBatch(newBatch());
    await store.deleteBatch(deleted.id, T0 + 3);
    await store.cancelBatch(running.id, T0 + 4);
    const counts = await store.countBatchesByStatus();
    expect(counts).toMatchObject({ validating: 1, cancelling: 1, in_progress: 0, completed: 0, failed: 0, expired: 0, cancelled: 0, finalizing: 0 });
    expect(Object.values(counts).reduce((a, b) => a + b, 0)).toBe(2);
  });

  it("keeps the counts by status in step through a whole life: run, finalize, end, delete", async () => {
    const store = await stores.open();
    const done = await startedBatch(store, 1, { createdAtMs: T0 + 5 });
    expect((await store.countBatchesByStatus()).in_progress).toBe(1);
    const [item] = await store.claimItems(claim("w", 1, T0 + 6));
    await store.completeItems([completion(item!, "w", T0 + 7)], T0 + 7);
    await store.claimFinalization(done.id, { owner: "f", nowMs: T0 + 8, leaseMs: LEASE_MS });
    expect(await store.countBatchesByStatus()).toMatchObject({ in_progress: 0, finalizing: 1 });
    await store.finishBatch(done.id, "f", { status: "completed", outputFileId: null, errorFileId: null, nowMs: T0 + 9 });
    expect(await store.countBatchesByStatus()).toMatchObject({ validating: 0, in_progress: 0, finalizing: 0, completed: 1 });
    await store.deleteBatch(done.id, T0 + 10);
    expect((await store.countBatchesByStatus()).completed).toBe(0);
  });

  it("counts batches created at once over several connections", async () => {
    const [first, second] = await stores.openShared(2);
    await Promise.all(Array.from({ length: 20 }, (_, i) => (i % 2 === 0 ? first! : second!).createBatch(newBatch({ createdAtMs: T0 + i }))));
    expect((await first!.countBatchesByStatus()).validating).toBe(20);
  });

  it("reports each model's pending and running items and since when the oldest has waited", async () => {
    const store = await stores.open();
    await startedBatch(store, 3, { createdAtMs: T0 });
    await startedBatch(store, 2, { createdAtMs: T0 + 100, model: "other-model" });
    await startedBatch(store, 1, { createdAtMs: T0 + 200 });
    await store.claimItems(claim("w", 2, T0 + 300));
    const queues = await store.queueStats();
    expect(queues).toEqual([
      { model: "other-model", pending: 2, running: 0, oldestPendingSinceMs: T0 + 101 },
      { model: MODEL, pending: 2, running: 2, oldestPendingSinceMs: T0 + 1 },
    ]);
    await store.claimItems(claim("w", 10, T0 + 400, MODEL));
    expect((await store.queueStats()).find((queue) => queue.model === MODEL)).toEqual({ model: MODEL, pending: 0, running: 4, oldestPendingSinceMs: null });
  });

  it("counts the running items of the batches asked about", async () => {
    const store = await stores.open();
    const first = await startedBatch(store, 3);
    const second = await startedBatch(store, 2, { createdAtMs: T0 + 5 });
    const idle = await startedBatch(store, 1, { createdAtMs: T0 + 6, model: "other-model" });
    const claimed = await store.claimItems(claim("w", 4, T0 + 10));
    await store.completeItems([completion(claimed[0]!, "w", T0 + 11)], T0 + 11);
    expect(await store.countRunningItems([first.id, second.id, idle.id, "batch_missing"])).toEqual({ [first.id]: 2, [second.id]: 1 });
    expect(await store.countRunningItems([])).toEqual({});
  });

  it("buckets a batch's finished items and tokens by result time", async () => {
    const store = await stores.open();
    const batch = await startedBatch(store, 5);
    const items = await store.claimItems(claim("w", 5, T0 + 10));
    await store.completeItems([completion(items[0]!, "w", T0 + 1_000), completion(items[1]!, "w", T0 + 1_500)], T0 + 1_500);
    await store.completeItems([completion(items[2]!, "w", T0 + 3_200, "failed")], T0 + 3_200);
    await store.completeItems([{ ...completion(items[3]!, "w", T0 + 3_900), result: okResult(T0 + 3_900, { inputTokens: 10, outputTokens: 20 }) }], T0 + 3_900);
    const timeline = await store.batchTimeline(batch.id, { startMs: T0 + 1, bucketMs: 1_000 });
    expect(timeline).toEqual([
      { startMs: T0 + 1, succeeded: 1, failed: 0, inputTokens: 3, outputTokens: 5 },
      { startMs: T0 + 1_001, succeeded: 1, failed: 0, inputTokens: 3, outputTokens: 5 },
      { startMs: T0 + 3_001, succeeded: 1, failed: 1, inputTokens: 10, outputTokens: 20 },
    ]);
  });

  it("counts failures by error code, an upstream's answer by its status", async () => {
    const store = await stores.open();
    const batch = await startedBatch(store, 4);
    const items = await store.claimItems(claim("w", 4, T0 + 10));
    const upstream429 = { ...errorResult(T0 + 20, "unused"), errorCode: null, statusCode: 429 };
    await store.completeItems(
      [
        { ...completion(items[0]!, "w", T0 + 20, "failed"), result: upstream429 },
        { ...completion(items[1]!, "w", T0 + 20, "failed"), result: upstream429 },
        { ...completion(items[2]!, "w", T0 + 20, "failed"), result: errorResult(T0 + 20, "request_timeout") },
        completion(items[3]!, "w", T0 + 20),
      ],
      T0 + 20,
    );
    expect(await store.countFailuresByCode(batch.id)).toEqual([
      { code: "http_429", count: 2 },
      { code: "request_timeout", count: 1 },
    ]);
  });

  it("finds finished items by the start of their client id, in input order", async () => {
    const store = await stores.open();
    const batch = await startedBatch(store, 12);
    const items = await store.claimItems(claim("w", 12, T0 + 10));
    await store.completeItems(items.filter((item) => item.index !== 11).map((item) => completion(item, "w", T0 + 20)), T0 + 20);
    expect((await store.findItemsByClientId(batch.id, "req-1", 10)).map((item) => item.clientId)).toEqual(["req-1", "req-10"]);
    expect((await store.findItemsByClientId(batch.id, "req-1", 1)).map((item) => item.clientId)).toEqual(["req-1"]);
    expect(await store.findItemsByClientId(batch.id, "REQ", 10)).toEqual([]);
    expect(await store.findItemsByClientId(batch.id, "req-%", 10)).toEqual([]);
  });

  it("lists batches filtered by status and model, newest first, with the cursor", async () => {
    const store = await stores.open();
    const a = await startedBatch(store, 1, { createdAtMs: T0, model: "m1", batch: { model: "m1" } });
    const b = await startedBatch(store, 1, { createdAtMs: T0 + 1, model: "m2", batch: { model: "m2" } });
    const c = await startedBatch(store, 1, { createdAtMs: T0 + 2, model: "m1", batch: { model: "m1" } });
    await store.cancelBatch(b.id, T0 + 3);
    const ids = async (query: Parameters<typeof store.listBatches>[0]) => (await store.listBatches(query)).batches.map((batch) => batch.id);
    expect(await ids({ limit: 10, statuses: ["in_progress"] })).toEqual([c.id, a.id]);
    expect(await ids({ limit: 10, statuses: ["cancelling", "cancelled"] })).toEqual([b.id]);
    expect(await ids({ limit: 10, model: "m1" })).toEqual([c.id, a.id]);
    expect(await ids({ limit: 10, model: "m1", afterId: c.id })).toEqual([a.id]);
    expect(await ids({ limit: 10, model: "m2", statuses: ["in_progress"] })).toEqual([]);
    expect(await ids({ limit: 10, statuses: [] })).toEqual([]);
    // A tenant's list with each filter (SQLite then reads the filter's index, checking the tenant per row).
    const other = await startedBatch(store, 1, { createdAtMs: T0 + 4, model: "m1", batch: { model: "m1", tenant: "other" } });
    expect(await ids({ limit: 10, tenant: "default", statuses: ["in_progress"] })).toEqual([c.id, a.id]);
    expect(await ids({ limit: 10, tenant: "other", statuses: ["in_progress"] })).toEqual([other.id]);
    expect(await ids({ limit: 10, tenant: "default", model: "m1" })).toEqual([c.id, a.id]);
    expect(await ids({ limit: 1, tenant: "default", model: "m1", statuses: ["in_progress", "cancelled"], afterId: c.id })).toEqual([a.id]);
  });
});
