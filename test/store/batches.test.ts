import { describe, expect, it } from "vitest";
import { AppError } from "../../src/core/errors.ts";
import { storeBackends, useStores } from "../helpers/store-backends.ts";
import { completion, expectCountsMatchItems, LEASE_MS, newBatch, newItems, startedBatch, T0, allItems } from "./store-fixtures.ts";

describe.each(storeBackends)("$name store: batches", (backend) => {
  const stores = useStores(backend);

  it("creates a batch in validating with zero counts, a seq and every field kept", async () => {
    const store = await stores.open();
    const spec = newBatch({ displayName: "nightly", metadata: { team: "x" }, options: { outputExpiresAfterMs: 5 }, model: "m", priority: 3 });
    const batch = await store.createBatch(spec);
    expect(batch).toMatchObject({
      id: spec.id,
      status: "validating",
      dialect: "openai",
      kind: "chat",
      endpoint: "/v1/chat/completions",
      model: "m",
      inputFileId: "file-input",
      outputFileId: null,
      errorFileId: null,
      invalidLinePolicy: "fail",
      errors: null,
      counts: { total: 0, succeeded: 0, failed: 0, cancelled: 0, expired: 0 },
      usage: { inputTokens: 0, outputTokens: 0 },
      displayName: "nightly",
      metadata: { team: "x" },
      options: { outputExpiresAfterMs: 5 },
      priority: 3,
      createdAtMs: T0,
      updatedAtMs: T0,
      expiresAtMs: spec.expiresAtMs,
      inProgressAtMs: null,
      deletedAtMs: null,
    });
    expect(typeof batch.seq).toBe("number");
    expect(await store.getBatch(spec.id)).toEqual(batch);
    expect(await store.getBatch("batch_missing")).toBeNull();
  });

  it("gives later batches a larger seq", async () => {
    const store = await stores.open();
    const a = await store.createBatch(newBatch());
    const b = await store.createBatch(newBatch());
    expect(b.seq).toBeGreaterThan(a.seq);
  });

  it("rejects a duplicate batch id as already_exists", async () => {
    const store = await stores.open();
    const spec = newBatch();
    await store.createBatch(spec);
    await expect(store.createBatch(spec)).rejects.toMatchObject({ code: "already_exists" });
  });

  it("lists batches newest first with a cursor, a dialect filter and hasMore", async () => {
    const store = await stores.open();
    const ids: string[] = [];
    for (let i = 0; i < 5; i += 1) ids.push((await store.createBatch(newBatch({ dialect: i % 2 === 0 ? "openai" : "gemini", createdAtMs: T0 + i }))).id);
    const newestFirst = [...ids].reverse();

    const first = await store.listBatches({ limit: 2 });
    expect(first.batches.map((b) => b.id)).toEqual(newestFirst.slice(0, 2));
    expect(first.hasMore).toBe(true);
    const rest = await store.listBatches({ limit: 10, afterId: newestFirst[1] });
    expect(rest.batches.map((b) => b.id)).toEqual(newestFirst.slice(2));
    expect(rest.hasMore).toBe(false);

    const gemini = await store.listBatches({ limit: 10, dialect: "gemini" });
    expect(gemini.batches.map((b) => b.id)).toEqual([ids[3], ids[1]]);
  });

  it("pages backwards with beforeId: the batches just newer, still newest first, hasMore while newer ones remain", async () => {
    const store = await stores.open();
    const ids: string[] = [];
    for (let i = 0; i < 6; i += 1) ids.push((await store.createBatch(newBatch({ dialect: i === 2 ? "openai" : "anthropic", createdAtMs: T0 + i }))).id);

    const page = await store.listBatches({ limit: 2, beforeId: ids[0], dialect: "anthropic" });
    expect(page.batches.map((b) => b.id)).toEqual([ids[3], ids[1]]);
    expect(page.hasMore).toBe(true);
    const last = await store.listBatches({ limit: 2, beforeId: ids[3], dialect: "anthropic" });
    expect(last.batches.map((b) => b.id)).toEqual([ids[5], ids[4]]);
    expect(last.hasMore).toBe(false);
    expect((await store.listBatches({ limit: 10, beforeId: ids[5] })).batches).toEqual([]);
  });

  it("hides a deleted batch from get and list unless deleted ones are asked for", async () => {
    const store = await stores.open();
    const kept = await store.createBatch(newBatch());
    const gone = await store.createBatch(newBatch());
    expect(await store.deleteBatch(gone.id, T0 + 5)).toBe(true);
    expect(await store.getBatch(gone.id)).toBeNull();
    expect((await store.listBatches({ limit: 10 })).batches.map((b) => b.id)).toEqual([kept.id]);
    const all = await store.listBatches({ limit: 10, includeDeleted: true });
    expect(all.batches.map((b) => b.id)).toEqual([gone.id, kept.id]);
    expect(all.batches[0]?.deletedAtMs).toBe(T0 + 5);
    expect(await store.deleteBatch(gone.id, T0 + 6)).toBe(false);
    expect(await store.deleteBatch("batch_missing", T0 + 6)).toBe(false);
  });

  it("deleting a running batch cancels its unstarted items and lets it finalize as cancelled", async () => {
    const store = await stores.open();
    const batch = await startedBatch(store, 3);
    const [running] = await store.claimItems({ owner: "w1", model: "test-model", limit: 1, nowMs: T0 + 10, leaseMs: LEASE_MS });
    expect(await store.deleteBatch(batch.id, T0 + 20)).toBe(true);
    const items = await allItems(store, batch.id);
    expect(items.map((item) => item.status)).toEqual(["running", "cancelled", "cancelled"]);
    expect(items[1]?.result?.errorCode).toBe("batch_cancelled");
    expect(await store.findBatchesToFinalize(T0 + 21, 10)).toEqual([]);
    expect(await store.completeItems([completion(running!, "w1", T0 + 30)], T0 + 30)).toBe(1);
    expect(await store.findBatchesToFinalize(T0 + 31, 10)).toEqual([{ batchId: batch.id, status: "cancelled" }]);
  });

  describe("cancelBatch", () => {
    it("cancels a validating batch: its staged items become cancelled and it waits for the validator", async () => {
      const store = await stores.open();
      const batch = await store.createBatch(newBatch());
      await store.claimValidation({ owner: "v", nowMs: T0, leaseMs: LEASE_MS });
      await store.insertItems(batch.id, newItems(2));
      const cancelled = await store.cancelBatch(batch.id, T0 + 10);
      expect(cancelled).toMatchObject({ status: "cancelling", cancellingAtMs: T0 + 10, updatedAtMs: T0 + 10 });
      expect(cancelled.counts).toMatchObject({ total: 2, cancelled: 2 });
      // The validator still holds its Lease: no finalization until it reports.
      expect(await store.findBatchesToFinalize(T0 + 11, 10)).toEqual([]);
      await store.insertItems(batch.id, newItems(1, { from: 2 }));
      const after = await store.startBatch(batch.id, { owner: "v", total: 3, model: "test-model", errors: null, nowMs: T0 + 12 });
      expect(after?.status).toBe("cancelling");
      expect(after?.counts).toMatchObject({ total: 3, cancelled: 3 });
      expect((await allItems(store, batch.id)).every((item) => item.status === "cancelled")).toBe(true);
      expect(await store.findBatchesToFinalize(T0 + 13, 10)).toEqual([{ batchId: batch.id, status: "cancelled" }]);
      await expectCountsMatchItems(store, batch.id);
    });

    it("cancels an unclaimed validating batch so it finalizes as cancelled at once", async () => {
      const store = await stores.open();
      const batch = await store.createBatch(newBatch());
      await store.cancelBatch(batch.id, T0 + 1);
      expect(await store.claimValidation({ owner: "v", nowMs: T0 + 2, leaseMs: LEASE_MS })).toBeNull();
      expect(await store.findBatchesToFinalize(T0 + 2, 10)).toEqual([{ batchId: batch.id, status: "cancelled" }]);
    });

    it("cancels an in_progress batch: pending items cancelled, running items still complete, then it finalizes as cancelled", async () => {
      const store = await stores.open();
      const batch = await startedBatch(store, 4);
      const claimed = await store.claimItems({ owner: "w1", model: "test-model", limit: 2, nowMs: T0 + 10, leaseMs: LEASE_MS });
      const cancelled = await store.cancelBatch(batch.id, T0 + 20);
      expect(cancelled.status).toBe("cancelling");
      expect(cancelled.counts).toMatchObject({ total: 4, cancelled: 2, succeeded: 0 });
      expect(await store.claimItems({ owner: "w2", model: "test-model", limit: 10, nowMs: T0 + 21, leaseMs: LEASE_MS })).toEqual([]);
      expect(await store.findBatchesToFinalize(T0 + 21, 10)).toEqual([]);

      const applied = await store.completeItems(claimed.map((item) => completion(item, "w1", T0 + 30)), T0 + 30);
      expect(applied).toBe(2);
      const now = await store.getBatch(batch.id);
      expect(now?.counts).toMatchObject({ succeeded: 2, cancelled: 2 });
      expect(await store.findBatchesToFinalize(T0 + 31, 10)).toEqual([{ batchId: batch.id, status: "cancelled" }]);
      const finalizing = await store.claimFinalization(batch.id, { owner: "f", nowMs: T0 + 32, leaseMs: LEASE_MS });
      const done = await store.finishBatch(batch.id, "f", { status: "cancelled", outputFileId: "file-out", errorFileId: "file-err", nowMs: T0 + 40 });
      expect(finalizing?.status).toBe("finalizing");
      expect(done).toMatchObject({ status: "cancelled", cancelledAtMs: T0 + 40, finalizingAtMs: T0 + 32, outputFileId: "file-out", errorFileId: "file-err" });
      await expectCountsMatchItems(store, batch.id);
    });

    it("is idempotent on a cancelling batch", async () => {
      const store = await stores.open();
      const batch = await startedBatch(store, 1);
      await store.claimItems({ owner: "w1", model: "test-model", limit: 1, nowMs: T0 + 10, leaseMs: LEASE_MS });
      const first = await store.cancelBatch(batch.id, T0 + 20);
      const again = await store.cancelBatch(batch.id, T0 + 30);
      expect(again).toEqual(first);
    });

    it("refuses a terminal or finalizing batch with a conflict naming its status", async () => {
      const store = await stores.open();
      const batch = await startedBatch(store, 1);
      const [item] = await store.claimItems({ owner: "w1", model: "test-model", limit: 1, nowMs: T0 + 10, leaseMs: LEASE_MS });
      await store.completeItems([completion(item!, "w1", T0 + 11)], T0 + 11);
      await store.claimFinalization(batch.id, { owner: "f", nowMs: T0 + 12, leaseMs: LEASE_MS });
      await expect(store.cancelBatch(batch.id, T0 + 13)).rejects.toMatchObject({ code: "conflict", message: `Batch ${batch.id} cannot be cancelled: it is already finalizing.` });
      await store.finishBatch(batch.id, "f", { status: "completed", outputFileId: null, errorFileId: null, nowMs: T0 + 14 });
      const error = await store.cancelBatch(batch.id, T0 + 15).catch((caught: unknown) => caught);
      expect(error).toBeInstanceOf(AppError);
      expect(error).toMatchObject({ code: "conflict", message: `Batch ${batch.id} cannot be cancelled: it is already completed.` });
    });

    it("reports a missing batch as not_found", async () => {
      const store = await stores.open();
      await expect(store.cancelBatch("batch_missing", T0)).rejects.toMatchObject({ code: "not_found" });
    });

    it("names the cancelled batches among those asked: cancelling, finalizing as cancelled, cancelled, deleted while running", async () => {
      const store = await stores.open();
      const claimOne = async (): Promise<void> => {
        expect(await store.claimItems({ owner: "w1", model: "test-model", limit: 1, nowMs: T0 + 10, leaseMs: LEASE_MS })).toHaveLength(1);
      };
      // Each Batch's one Item is claimed before the next Batch starts, so the FIFO claim takes that one.
      const cancelling = await startedBatch(store, 1);
      await claimOne();
      await store.cancelBatch(cancelling.id, T0 + 20);

      const finalizing = await startedBatch(store, 1);
      const [held] = await store.claimItems({ owner: "w1", model: "test-model", limit: 1, nowMs: T0 + 10, leaseMs: LEASE_MS });
      await store.cancelBatch(finalizing.id, T0 + 20);
      await store.completeItems([completion(held!, "w1", T0 + 21)], T0 + 21);
      expect(await store.claimFinalization(finalizing.id, { owner: "f", nowMs: T0 + 22, leaseMs: LEASE_MS })).toMatchObject({ status: "finalizing" });

      const cancelled = await startedBatch(store, 1);
      await store.cancelBatch(cancelled.id, T0 + 20);
      await store.claimFinalization(cancelled.id, { owner: "f", nowMs: T0 + 22, leaseMs: LEASE_MS });
      expect(await store.finishBatch(cancelled.id, "f", { status: "cancelled", outputFileId: null, errorFileId: null, nowMs: T0 + 23 })).toMatchObject({ status: "cancelled" });

      const deleted = await startedBatch(store, 1);
      await claimOne();
      expect(await store.deleteBatch(deleted.id, T0 + 20)).toBe(true);

      const completed = await startedBatch(store, 1);
      const [done] = await store.claimItems({ owner: "w1", model: "test-model", limit: 1, nowMs: T0 + 10, leaseMs: LEASE_MS });
      await store.completeItems([completion(done!, "w1", T0 + 11)], T0 + 11);
      await store.claimFinalization(completed.id, { owner: "f", nowMs: T0 + 12, leaseMs: LEASE_MS });
      await store.finishBatch(completed.id, "f", { status: "completed", outputFileId: null, errorFileId: null, nowMs: T0 + 14 });

      const running = await startedBatch(store, 1);
      const validating = await store.createBatch(newBatch());

      const asked = [running.id, cancelling.id, validating.id, finalizing.id, "batch_missing", cancelled.id, completed.id, deleted.id];
      const found = await store.cancelledBatches(asked);
      expect(found.sort()).toEqual([cancelling.id, finalizing.id, cancelled.id, deleted.id].sort());
      expect(await store.cancelledBatches([running.id, validating.id, completed.id])).toEqual([]);
      expect(await store.cancelledBatches([])).toEqual([]);
    });
  });
});
