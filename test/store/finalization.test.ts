import { describe, expect, it } from "vitest";
import { expiredResult } from "../../src/core/batch-format.ts";
import { storeBackends, useStores } from "../helpers/store-backends.ts";
import { allItems, completion, DAY_MS, errorResult, expectCountsMatchItems, LEASE_MS, MODEL, newBatch, newFile, startedBatch, T0 } from "./store-fixtures.ts";

const claim = (owner: string, limit: number, nowMs: number) => ({ owner, model: MODEL, limit, nowMs, leaseMs: LEASE_MS });
const lease = (owner: string, nowMs: number) => ({ owner, nowMs, leaseMs: LEASE_MS });

describe.each(storeBackends)("$name store: expiry and finalization", (backend) => {
  const stores = useStores(backend);

  it("finalizes a batch whose items all finished as completed, stamping finalizing and completed times", async () => {
    const store = await stores.open();
    const batch = await startedBatch(store, 2);
    const items = await store.claimItems(claim("w1", 2, T0 + 10));
    await store.completeItems([completion(items[0]!, "w1", T0 + 20)], T0 + 20);
    expect(await store.findBatchesToFinalize(T0 + 21, 10)).toEqual([]);
    await store.completeItems([completion(items[1]!, "w1", T0 + 30, "failed")], T0 + 30);
    expect(await store.findBatchesToFinalize(T0 + 31, 10)).toEqual([{ batchId: batch.id, status: "completed" }]);

    const finalizing = await store.claimFinalization(batch.id, lease("f1", T0 + 40));
    expect(finalizing).toMatchObject({ status: "finalizing", finalizingAtMs: T0 + 40, updatedAtMs: T0 + 40 });
    expect(await store.claimFinalization(batch.id, lease("f2", T0 + 41))).toBeNull();
    expect(await store.findBatchesToFinalize(T0 + 41, 10)).toEqual([]);
    expect(await store.renewBatchLease(batch.id, lease("f1", T0 + 50))).toBe(true);

    const done = await store.finishBatch(batch.id, "f1", { status: "completed", outputFileId: "file-o", errorFileId: "file-e", nowMs: T0 + 60 });
    expect(done).toMatchObject({ status: "completed", completedAtMs: T0 + 60, updatedAtMs: T0 + 60, outputFileId: "file-o", errorFileId: "file-e", expiredAtMs: null, cancelledAtMs: null });
    expect(done?.counts).toEqual({ total: 2, succeeded: 1, failed: 1, cancelled: 0, expired: 0 });
    expect(await store.findBatchesToFinalize(T0 + 100 * LEASE_MS, 10)).toEqual([]);
    await expectCountsMatchItems(store, batch.id);
  });

  it("lets another worker redo a finalization whose lease expired, and the first can then no longer finish it", async () => {
    const store = await stores.open();
    const batch = await startedBatch(store, 1);
    const [item] = await store.claimItems(claim("w1", 1, T0 + 10));
    await store.completeItems([completion(item!, "w1", T0 + 20)], T0 + 20);
    await store.claimFinalization(batch.id, lease("f1", T0 + 30));
    expect(await store.findBatchesToFinalize(T0 + 30 + LEASE_MS - 1, 10)).toEqual([]);
    expect(await store.findBatchesToFinalize(T0 + 30 + LEASE_MS, 10)).toEqual([{ batchId: batch.id, status: "completed" }]);
    const retaken = await store.claimFinalization(batch.id, lease("f2", T0 + 30 + LEASE_MS));
    expect(retaken).toMatchObject({ status: "finalizing", finalizingAtMs: T0 + 30 });
    expect(await store.finishBatch(batch.id, "f1", { status: "completed", outputFileId: null, errorFileId: null, nowMs: T0 + 40_000 })).toBeNull();
    expect(await store.renewBatchLease(batch.id, lease("f1", T0 + 40_000))).toBe(false);
    const done = await store.finishBatch(batch.id, "f2", { status: "completed", outputFileId: "file-o", errorFileId: null, nowMs: T0 + 40_001 });
    expect(done?.status).toBe("completed");
  });

  it("leaves a running batch whose results another process writes early to that process while its lease lasts (decision 0061)", async () => {
    const store = await stores.open();
    const batch = await startedBatch(store, 2);
    const items = await store.claimItems(claim("w1", 2, T0 + 10));
    // One writer at a time; its holder renews; nobody takes it for a batch that is not running.
    expect(await store.takeResultsWriter(batch.id, lease("writer", T0 + 10))).toBe(true);
    expect(await store.takeResultsWriter(batch.id, lease("other", T0 + 11))).toBe(false);
    expect(await store.takeResultsWriter(batch.id, lease("writer", T0 + 20))).toBe(true);
    await store.completeItems(items.map((item, i) => completion(item, "w1", T0 + 30, i === 0 ? "failed" : "succeeded")), T0 + 30);
    const ready = [{ batchId: batch.id, status: "completed" }];
    expect(await store.findBatchesToFinalize(T0 + 31, 10)).toEqual([]);
    expect(await store.findBatchesToFinalize(T0 + 31, 10, [batch.id], "other")).toEqual([]);
    expect(await store.findBatchesToFinalize(T0 + 31, 10, undefined, "writer")).toEqual(ready);
    expect(await store.claimFinalization(batch.id, lease("other", T0 + 31))).toBeNull();
    // Renewed at T0 + 20: free to others once that has run out.
    expect(await store.findBatchesToFinalize(T0 + 20 + LEASE_MS, 10, [batch.id], "other")).toEqual(ready);
    // Given up, it is free at once; the holder's claim takes the batch and ends the lease with it.
    await store.releaseResultsWriter(batch.id, "other");
    expect(await store.findBatchesToFinalize(T0 + 32, 10, undefined, "other")).toEqual([]);
    await store.releaseResultsWriter(batch.id, "writer");
    expect(await store.findBatchesToFinalize(T0 + 32, 10, undefined, "other")).toEqual(ready);
    expect(await store.takeResultsWriter(batch.id, lease("writer", T0 + 33))).toBe(true);
    expect(await store.claimFinalization(batch.id, lease("writer", T0 + 34))).toMatchObject({ status: "finalizing" });
    expect(await store.takeResultsWriter(batch.id, lease("other", T0 + 35))).toBe(false);
    await store.finishBatch(batch.id, "writer", { status: "completed", outputFileId: null, errorFileId: null, nowMs: T0 + 36 });
    // Running again, its lease (which would have lasted to T0 + 33 + LEASE_MS) is nobody's.
    expect(await store.retryFailedItems(batch.id, T0 + 37, { all: true })).toMatchObject({ status: "in_progress" });
    expect(await store.takeResultsWriter(batch.id, lease("other", T0 + 38))).toBe(true);
  });

  it("finalizes a cancelled batch whatever its results writer lease", async () => {
    const store = await stores.open();
    const batch = await startedBatch(store, 2);
    expect(await store.takeResultsWriter(batch.id, lease("writer", T0 + 10))).toBe(true);
    await store.cancelBatch(batch.id, T0 + 11);
    expect(await store.findBatchesToFinalize(T0 + 12, 10, [batch.id], "other")).toEqual([{ batchId: batch.id, status: "cancelled" }]);
    expect(await store.claimFinalization(batch.id, lease("other", T0 + 12))).toMatchObject({ status: "finalizing" });
  });

  it("registers the result files' records with the batch's end, each replacing a record of its id as the newest file", async () => {
    const store = await stores.open();
    const batch = await startedBatch(store, 1);
    const [item] = await store.claimItems(claim("w1", 1, T0 + 10));
    await store.completeItems([completion(item!, "w1", T0 + 20)], T0 + 20);
    // A previous finalization's output (before a retry) and a file uploaded after it.
    await store.createFile(newFile({ id: "file-o", purpose: "batch_output", bytes: 1, sha256: "b".repeat(64) }));
    const later = await store.createFile(newFile());
    await store.claimFinalization(batch.id, lease("f1", T0 + 30));
    const output = newFile({ id: "file-o", purpose: "batch_output", filename: "out.jsonl", bytes: 42, source: "generated", createdAtMs: T0 + 40, expiresAtMs: T0 + DAY_MS });
    const errors = newFile({ id: "file-e", purpose: "batch_output", filename: "errors.jsonl", bytes: 7, source: "generated", createdAtMs: T0 + 40, expiresAtMs: T0 + DAY_MS });

    // Registered even by a Worker that lost the Lease (its blobs are written), without finishing the Batch.
    expect(await store.finishBatch(batch.id, "someone-else", { status: "completed", outputFileId: "file-o", errorFileId: null, nowMs: T0 + 40, files: [output] })).toBeNull();
    expect(await store.getFile("file-o")).toMatchObject({ bytes: 42, filename: "out.jsonl", source: "generated" });
    expect((await store.getBatch(batch.id))?.status).toBe("finalizing");
    // What the tenant stores counts a replaced record once, at its new size (migration 019's total).
    expect(await store.tenantUsage("default")).toMatchObject({ files: 2, storedBytes: 42 + later.bytes });

    const done = await store.finishBatch(batch.id, "f1", { status: "completed", outputFileId: "file-o", errorFileId: "file-e", nowMs: T0 + 41, files: [output, errors] });
    expect(done).toMatchObject({ status: "completed", outputFileId: "file-o", errorFileId: "file-e" });
    expect(await store.getFile("file-e")).toMatchObject({ bytes: 7, expiresAtMs: T0 + DAY_MS, tenant: "default" });
    const listed = await store.listFiles({ limit: 10, order: "desc" });
    expect(listed.files.map((file) => file.id)).toEqual(["file-e", "file-o", later.id]);
    expect(await store.tenantUsage("default")).toMatchObject({ files: 3, storedBytes: 42 + 7 + later.bytes });
  });

  it("expires pending items of a batch past its window; running items finish, then it finalizes as expired", async () => {
    const store = await stores.open();
    const expiresAtMs = T0 + DAY_MS;
    const batch = await startedBatch(store, 4, { expiresAtMs });
    const running = await store.claimItems(claim("w1", 1, T0 + 10));
    const other = await startedBatch(store, 1, { createdAtMs: T0 + 5 });

    expect(await store.expireBatches(expiresAtMs - 1, expiredResult(expiresAtMs - 1))).toEqual([]);
    const expired = await store.expireBatches(expiresAtMs, expiredResult(expiresAtMs));
    expect(expired).toEqual([batch.id]);
    const items = await allItems(store, batch.id);
    expect(items.map((item) => item.status)).toEqual(["running", "expired", "expired", "expired"]);
    expect(items[1]?.result).toEqual(expiredResult(expiresAtMs));
    expect((await store.getBatch(batch.id))?.status).toBe("in_progress");
    expect((await store.getBatch(other.id))?.counts.expired).toBe(0);
    // Nothing left to expire: the batch is not reported again.
    expect(await store.expireBatches(expiresAtMs + 1, expiredResult(expiresAtMs + 1))).toEqual([]);

    expect(await store.findBatchesToFinalize(expiresAtMs + 1, 10)).toEqual([]);
    await store.completeItems([completion(running[0]!, "w1", expiresAtMs + 2)], expiresAtMs + 2);
    expect(await store.findBatchesToFinalize(expiresAtMs + 3, 10)).toEqual([{ batchId: batch.id, status: "expired" }]);
    await store.claimFinalization(batch.id, lease("f", expiresAtMs + 4));
    const done = await store.finishBatch(batch.id, "f", { status: "expired", outputFileId: "file-o", errorFileId: "file-e", nowMs: expiresAtMs + 5 });
    expect(done).toMatchObject({ status: "expired", expiredAtMs: expiresAtMs + 5, completedAtMs: null, finalizingAtMs: expiresAtMs + 4 });
    expect(done?.counts).toEqual({ total: 4, succeeded: 1, failed: 0, cancelled: 0, expired: 3 });
    await expectCountsMatchItems(store, batch.id);
  });

  it("reports ready batches oldest first and honours the limit", async () => {
    const store = await stores.open();
    const a = await store.createBatch(newBatch());
    const b = await store.createBatch(newBatch());
    await store.cancelBatch(b.id, T0 + 1);
    await store.cancelBatch(a.id, T0 + 2);
    expect(await store.findBatchesToFinalize(T0 + 3, 1)).toEqual([{ batchId: a.id, status: "cancelled" }]);
    expect((await store.findBatchesToFinalize(T0 + 3, 10)).map((entry) => entry.batchId)).toEqual([a.id, b.id]);
  });

  it("looks only at the batches it is given, when given some: ready ones among them, oldest first", async () => {
    const store = await stores.open();
    const ready = async (): Promise<string> => {
      const batch = await store.createBatch(newBatch());
      await store.cancelBatch(batch.id, T0 + 1);
      return batch.id;
    };
    const [a, b, c] = [await ready(), await ready(), await ready()];
    const running = await startedBatch(store, 1);
    const ids = (found: { batchId: string }[]): string[] => found.map((entry) => entry.batchId);

    expect(ids(await store.findBatchesToFinalize(T0 + 2, 10, [c, a]))).toEqual([a, c]);
    // Not ready, unknown, or none at all: nothing.
    expect(await store.findBatchesToFinalize(T0 + 2, 10, [running.id, "batch_unknown"])).toEqual([]);
    expect(await store.findBatchesToFinalize(T0 + 2, 10, [])).toEqual([]);
    expect(ids(await store.findBatchesToFinalize(T0 + 2, 1, [c, b]))).toEqual([b]);
    expect(ids(await store.findBatchesToFinalize(T0 + 2, 10))).toEqual([a, b, c]);
  });

  describe("retryFailedItems", () => {
    it("sends the failed items of a completed batch back to run, keeps the result file ids readable and finalizes again", async () => {
      const store = await stores.open();
      if (!store.retryFailedItems) throw new Error(`The ${backend.name} store does not implement retryFailedItems.`);
      const batch = await startedBatch(store, 3);
      const items = await store.claimItems(claim("w1", 3, T0 + 10));
      await store.completeItems(
        [completion(items[0]!, "w1", T0 + 20), completion(items[1]!, "w1", T0 + 20, "failed"), completion(items[2]!, "w1", T0 + 20, "failed")],
        T0 + 20,
      );
      await store.claimFinalization(batch.id, lease("f", T0 + 30));
      await store.finishBatch(batch.id, "f", { status: "completed", outputFileId: "file-o", errorFileId: "file-e", nowMs: T0 + 40 });

      const retried = await store.retryFailedItems(batch.id, T0 + 1000);
      expect(retried).toMatchObject({ status: "in_progress", outputFileId: "file-o", errorFileId: "file-e", completedAtMs: null, finalizingAtMs: null, updatedAtMs: T0 + 1000 });
      expect(retried.counts).toEqual({ total: 3, succeeded: 1, failed: 0, cancelled: 0, expired: 0 });
      expect(retried.expiresAtMs).toBe(T0 + 1000 + DAY_MS);
      const again = await store.claimItems(claim("w2", 10, T0 + 1001));
      expect(again.map((item) => [item.index, item.attempt, item.result])).toEqual([
        [1, 2, null],
        [2, 2, null],
      ]);
      await store.completeItems(again.map((item) => completion(item, "w2", T0 + 1002)), T0 + 1002);
      expect(await store.findBatchesToFinalize(T0 + 1003, 10)).toEqual([{ batchId: batch.id, status: "completed" }]);
      expect((await store.getBatch(batch.id))?.counts).toEqual({ total: 3, succeeded: 3, failed: 0, cancelled: 0, expired: 0 });
    });

    it("retries by default only failures another try can fix (429, 5xx, timeouts, cancelled), and every one with all", async () => {
      const store = await stores.open();
      const batch = await startedBatch(store, 5);
      const items = await store.claimItems(claim("w1", 5, T0 + 10));
      const failures = [
        { ...errorResult(T0 + 20), statusCode: 400 },
        { ...errorResult(T0 + 20), statusCode: 429 },
        { ...errorResult(T0 + 20, "request_timeout"), statusCode: null },
        { ...errorResult(T0 + 20, "batch_cancelled"), statusCode: null },
        { ...errorResult(T0 + 20, "model_not_found"), statusCode: null },
      ];
      await store.completeItems(items.map((item, i) => ({ ...completion(item, "w1", T0 + 20, "failed"), result: failures[i]! })), T0 + 20);
      await store.claimFinalization(batch.id, lease("f", T0 + 30));
      await store.finishBatch(batch.id, "f", { status: "completed", outputFileId: null, errorFileId: "file-e", nowMs: T0 + 40 });

      expect((await store.retryFailedItems(batch.id, T0 + 50)).counts).toMatchObject({ failed: 2 });
      const retryable = await store.claimItems(claim("w2", 10, T0 + 51));
      expect(retryable.map((item) => item.index)).toEqual([1, 2, 3]);
      await store.completeItems(retryable.map((item) => completion(item, "w2", T0 + 52, "failed")), T0 + 52);
      await store.claimFinalization(batch.id, lease("f", T0 + 53));
      await store.finishBatch(batch.id, "f", { status: "completed", outputFileId: null, errorFileId: "file-e2", nowMs: T0 + 54 });

      expect((await store.retryFailedItems(batch.id, T0 + 60, { all: true })).counts).toMatchObject({ failed: 0 });
      expect((await store.claimItems(claim("w3", 10, T0 + 61))).map((item) => item.index)).toEqual([0, 1, 2, 3, 4]);
      await expectCountsMatchItems(store, batch.id);
    });

    it("refuses a batch that is still running or has nothing to retry, and a missing one", async () => {
      const store = await stores.open();
      if (!store.retryFailedItems) throw new Error(`The ${backend.name} store does not implement retryFailedItems.`);
      const batch = await startedBatch(store, 1);
      await expect(store.retryFailedItems(batch.id, T0 + 5)).rejects.toMatchObject({ code: "conflict" });
      const [item] = await store.claimItems(claim("w1", 1, T0 + 10));
      await store.completeItems([completion(item!, "w1", T0 + 20)], T0 + 20);
      await store.claimFinalization(batch.id, lease("f", T0 + 30));
      await store.finishBatch(batch.id, "f", { status: "completed", outputFileId: "file-o", errorFileId: null, nowMs: T0 + 40 });
      await expect(store.retryFailedItems(batch.id, T0 + 50)).rejects.toMatchObject({ code: "conflict" });
      await expect(store.retryFailedItems("batch_missing", T0 + 50)).rejects.toMatchObject({ code: "not_found" });
    });
  });
});
