/**
 * Retention of ended Batches' Items (migration 020) on every backend: archiveBatches takes ended Batches
 * created before a cutoff and ended long enough ago, oldest first, and nothing else; purgeArchivedItems deletes their Items and
 * requests a bounded number at a time, only past the grace it is given, and leaves counts, usage and other
 * Batches as they were; an archived Batch cannot be retried; deleting an ended Batch archives it at once.
 */
import { describe, expect, it } from "vitest";
import { isAppError } from "../../src/core/errors.ts";
import type { Batch } from "../../src/core/types.ts";
import type { Store } from "../../src/store/store.ts";
import { storeBackends, useStores } from "../helpers/store-backends.ts";
import { allItems, completion, DAY_MS, LEASE_MS, MODEL, startedBatch, T0 } from "./store-fixtures.ts";

/**
 * A Batch of `count` Items taken through to completed (its first Item failed), created at `createdAtMs`,
 * its Items run and the Batch ended around `endedAtMs` (default: just after its creation).
 */
async function endedBatch(store: Store, count: number, createdAtMs: number, endedAtMs = createdAtMs + 5): Promise<Batch> {
  const batch = await startedBatch(store, count, { createdAtMs, expiresAtMs: endedAtMs + DAY_MS });
  const claimed = await store.claimItems({ owner: "w", model: MODEL, limit: count, nowMs: endedAtMs - 3, leaseMs: LEASE_MS });
  await store.completeItems(claimed.map((item) => completion(item, "w", endedAtMs - 2, item.index === 0 ? "failed" : "succeeded")), endedAtMs - 2);
  await store.claimFinalization(batch.id, { owner: "f", nowMs: endedAtMs - 1, leaseMs: LEASE_MS });
  const done = await store.finishBatch(batch.id, "f", { status: "completed", outputFileId: null, errorFileId: null, nowMs: endedAtMs });
  expect(done?.status).toBe("completed");
  return done as Batch;
}

const NOW = T0 + 40 * DAY_MS;
const CUTOFF = T0 + 10 * DAY_MS;
/** Archives Batches created before CUTOFF and ended at or before `endedBeforeMs` (default: a day before `nowMs`). */
const archive = (store: Store, nowMs: number, limit: number, endedBeforeMs = nowMs - DAY_MS): Promise<string[]> =>
  store.archiveBatches({ createdBeforeMs: CUTOFF, endedBeforeMs, nowMs, limit });

describe.each(storeBackends)("$name store: retention of ended batches", (backend) => {
  const stores = useStores(backend);

  it("archives ended batches created before the cutoff, oldest first, and nothing that runs or is newer", async () => {
    const store = await stores.open();
    const second = await endedBatch(store, 2, T0 + 1_000);
    const first = await endedBatch(store, 2, T0);
    const running = await startedBatch(store, 2, { createdAtMs: T0 + 500, model: "other-model" });
    const fresh = await endedBatch(store, 2, CUTOFF + 1);

    // Created before the cutoff but ran long: kept until it has been ended for as long as asked.
    const longRunner = await endedBatch(store, 2, T0 + 2_000, NOW - 1_000);

    expect(await archive(store, NOW, 1)).toEqual([first.id]);
    expect(await archive(store, NOW + 1, 10)).toEqual([second.id]);
    expect(await archive(store, NOW + 2, 10)).toEqual([]);
    expect(await archive(store, NOW + 3, 10, NOW - 1_000)).toEqual([longRunner.id]);
    expect((await store.getBatch(first.id))?.archivedAtMs).toBe(NOW);
    expect((await store.getBatch(second.id))?.archivedAtMs).toBe(NOW + 1);
    expect((await store.getBatch(running.id))?.archivedAtMs).toBeNull();
    expect((await store.getBatch(fresh.id))?.archivedAtMs).toBeNull();
    // The same Batch as before, archived: counts and usage stay.
    expect(await store.getBatch(first.id)).toEqual({ ...first, archivedAtMs: NOW });

    // Its failed request is gone with the rest: nothing to retry.
    const refused = await store.retryFailedItems(first.id, NOW + 3).catch((error: unknown) => error);
    expect(isAppError(refused) && refused.code === "conflict" && /retention\.batchResults/.test(refused.message)).toBe(true);
    expect((await store.retryFailedItems(fresh.id, NOW + 3)).status).toBe("in_progress");
  });

  it("deletes archived batches' items and requests a bounded number at a time, only past the grace, and nothing else", async () => {
    const store = await stores.open();
    const a = await endedBatch(store, 5, T0);
    const b = await endedBatch(store, 3, T0 + 1);
    const kept = await endedBatch(store, 2, CUTOFF + 1);
    expect(await archive(store, NOW, 10)).toEqual([a.id, b.id]);

    // Archived at NOW: a purge for Batches archived before then finds none (readers get a grace period).
    expect(await store.purgeArchivedItems(NOW - 1, 10)).toBe(0);
    expect(await store.purgeArchivedItems(NOW, 4)).toBe(4);
    expect((await allItems(store, a.id)).map((item) => item.index)).toEqual([4]);
    expect(await backend.countRows(store, "item_requests", a.id)).toBe(1);
    expect(await store.purgeArchivedItems(NOW, 4)).toBe(4);
    expect(await store.purgeArchivedItems(NOW, 4)).toBe(0);
    for (const batch of [a, b]) {
      expect(await allItems(store, batch.id)).toEqual([]);
      expect(await backend.countRows(store, "item_requests", batch.id)).toBe(0);
      expect(await store.getBatch(batch.id)).toEqual({ ...batch, archivedAtMs: NOW });
    }
    expect(await allItems(store, kept.id)).toHaveLength(2);
    expect(await backend.countRows(store, "item_requests", kept.id)).toBe(2);
  });

  it("archives an ended batch when it is deleted, whatever its age; an unfinished one as it ends", async () => {
    const store = await stores.open();
    const ended = await endedBatch(store, 3, NOW - 1_000);
    const running = await startedBatch(store, 2, { createdAtMs: NOW - 500, model: "other-model" });
    expect(await store.deleteBatch(ended.id, NOW)).toBe(true);
    expect(await store.deleteBatch(running.id, NOW)).toBe(true);
    expect((await store.listBatches({ limit: 10, includeDeleted: true })).batches.map((batch) => [batch.id, batch.archivedAtMs])).toEqual(
      expect.arrayContaining([[ended.id, NOW], [running.id, null]]),
    );
    expect(await store.purgeArchivedItems(NOW, 100)).toBe(3);
    expect(await allItems(store, ended.id)).toEqual([]);
    expect(await allItems(store, running.id)).toHaveLength(2);
    // The deleted one was cancelled: it ends (finalization) and is archived then, its Items purged past the grace.
    expect((await store.claimFinalization(running.id, { owner: "f", nowMs: NOW + 10, leaseMs: LEASE_MS }))?.status).toBe("finalizing");
    const cancelled = await store.finishBatch(running.id, "f", { status: "cancelled", outputFileId: null, errorFileId: null, nowMs: NOW + 20 });
    expect([cancelled?.status, cancelled?.archivedAtMs]).toEqual(["cancelled", NOW + 20]);
    expect(await store.purgeArchivedItems(NOW + 19, 100)).toBe(0);
    expect(await store.purgeArchivedItems(NOW + 20, 100)).toBe(2);
    expect(await allItems(store, running.id)).toEqual([]);
    // Ending a Batch not deleted archives nothing.
    expect((await endedBatch(store, 1, NOW + 40)).archivedAtMs).toBeNull();
  });
});
