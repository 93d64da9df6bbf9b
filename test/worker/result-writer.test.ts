/**
 * ResultWriter: completions are buffered and recorded in one Store call per flush; flush() (what
 * Worker.stop awaits) leaves nothing behind; a failed write keeps the results and writes them once the
 * database is back. Against both Stores, with a real database failure (a trigger) for the error path.
 */
import { pino } from "pino";
import { describe, expect, it, vi } from "vitest";
import { ManualClock } from "../../src/core/clock.ts";
import type { ClaimedItem, Store } from "../../src/store/store.ts";
import { ResultWriter } from "../../src/worker/result-writer.ts";
import { storeBackends, useStores } from "../helpers/store-backends.ts";
import { waitFor } from "../helpers/wait-for.ts";
import { allItems, completion, expectCountsMatchItems, LEASE_MS, MODEL, startedBatch, T0 } from "../store/store-fixtures.ts";

const logger = pino({ level: process.env.SPOOL_TEST_LOG ?? "silent" });
const OWNER = "worker-a";

/** A started Batch of `count` Items, all claimed by OWNER. */
async function claimedItems(store: Store, count: number): Promise<{ batchId: string; items: ClaimedItem[] }> {
  const batch = await startedBatch(store, count);
  const items = await store.claimItems({ owner: OWNER, model: MODEL, limit: count, nowMs: T0 + 10, leaseMs: LEASE_MS });
  expect(items).toHaveLength(count);
  return { batchId: batch.id, items };
}

const statuses = async (store: Store, batchId: string): Promise<string> => (await allItems(store, batchId)).map((item) => item.status).join();

describe.each(storeBackends)("ResultWriter on the $name store", (backend) => {
  const stores = useStores(backend);
  const clock = new ManualClock(T0 + 100);

  it("buffers completions until maxBatch, then records them all in one Store call", async () => {
    const store = await stores.open();
    const { batchId, items } = await claimedItems(store, 3);
    const calls = vi.spyOn(store, "completeItems");
    const flushed: number[] = [];
    const writer = new ResultWriter(store, clock, logger, { maxBatch: 3, maxDelayMs: 60_000, onFlushed: (applied) => flushed.push(applied) });

    writer.add(completion(items[0]!, OWNER, clock.now()));
    writer.add(completion(items[1]!, OWNER, clock.now()));
    expect(writer.pending).toBe(2);
    expect(calls).not.toHaveBeenCalled();
    expect(await statuses(store, batchId)).toBe("running,running,running");

    writer.add(completion(items[2]!, OWNER, clock.now(), "failed"));
    await waitFor(() => flushed.length === 1, { what: "the flush at maxBatch" });
    expect(flushed).toEqual([3]);
    expect(calls).toHaveBeenCalledTimes(1);
    expect(calls.mock.calls[0]?.[0]).toHaveLength(3);
    expect(calls.mock.calls[0]?.[1]).toBe(clock.now());
    expect(await statuses(store, batchId)).toBe("succeeded,succeeded,failed");
    await expectCountsMatchItems(store, batchId);
  });

  it("records a lone completion after maxDelayMs without waiting for a full batch", async () => {
    const store = await stores.open();
    const { batchId, items } = await claimedItems(store, 1);
    const flushed: number[] = [];
    const writer = new ResultWriter(store, clock, logger, { maxBatch: 500, maxDelayMs: 5, onFlushed: (applied) => flushed.push(applied) });
    writer.add(completion(items[0]!, OWNER, clock.now()));
    await waitFor(() => flushed.length === 1, { what: "the timed flush" });
    expect(await statuses(store, batchId)).toBe("succeeded");
    expect(writer.pending).toBe(0);
  });

  it("flush() resolves once everything buffered is durable, which is what stop() relies on", async () => {
    const store = await stores.open();
    const { batchId, items } = await claimedItems(store, 5);
    const writer = new ResultWriter(store, clock, logger, { maxBatch: 500, maxDelayMs: 60_000 });
    for (const item of items) writer.add(completion(item, OWNER, clock.now()));
    await writer.flush();
    expect(writer.pending).toBe(0);
    expect(await statuses(store, batchId)).toBe("succeeded,succeeded,succeeded,succeeded,succeeded");
    expect((await store.getBatch(batchId))?.counts.succeeded).toBe(5);
  });

  it("writes every completion exactly once when flushes overlap", async () => {
    const store = await stores.open();
    const { batchId, items } = await claimedItems(store, 4);
    const calls = vi.spyOn(store, "completeItems");
    const writer = new ResultWriter(store, clock, logger, { maxBatch: 500, maxDelayMs: 60_000 });
    writer.add(completion(items[0]!, OWNER, clock.now()));
    writer.add(completion(items[1]!, OWNER, clock.now()));
    const first = writer.flush();
    writer.add(completion(items[2]!, OWNER, clock.now()));
    const second = writer.flush();
    writer.add(completion(items[3]!, OWNER, clock.now()));
    await Promise.all([first, second, writer.flush()]);
    const written = calls.mock.calls.flatMap(([completions]) => completions.map((entry) => entry.index));
    expect(written.sort()).toEqual([0, 1, 2, 3]);
    expect(await statuses(store, batchId)).toBe("succeeded,succeeded,succeeded,succeeded");
  });

  it("tells how many completions the Store applied, leaving out those whose Lease passed to another Worker", async () => {
    const store = await stores.open();
    const { batchId, items } = await claimedItems(store, 2);
    const flushed: number[] = [];
    const writer = new ResultWriter(store, clock, logger, { onFlushed: (applied) => flushed.push(applied) });
    writer.add(completion(items[0]!, OWNER, clock.now()));
    writer.add(completion({ ...items[1]!, attempt: items[1]!.attempt + 1 }, OWNER, clock.now())); // a stale Attempt
    await writer.flush();
    expect(flushed).toEqual([1]);
    expect(await statuses(store, batchId)).toBe("succeeded,running");
  });

  it("keeps the results when recording fails and records them, with later ones, once the database is back", async () => {
    const store = await stores.open();
    const { batchId, items } = await claimedItems(store, 3);
    const flushed: number[] = [];
    const writer = new ResultWriter(store, clock, logger, { maxBatch: 500, maxDelayMs: 60_000, onFlushed: (applied) => flushed.push(applied) });
    const restore = await backend.failUpdates(store, "items");

    writer.add(completion(items[0]!, OWNER, clock.now()));
    writer.add(completion(items[1]!, OWNER, clock.now()));
    await writer.flush(); // does not throw: the failure is logged and the write retried
    expect(writer.pending).toBe(2);
    expect(flushed).toEqual([]);
    expect(await statuses(store, batchId)).toBe("running,running,running");
    writer.add(completion(items[2]!, OWNER, clock.now(), "failed"));

    await restore();
    await waitFor(() => flushed.length > 0, { what: "the retried write" });
    await writer.flush();
    expect(flushed.reduce((sum, applied) => sum + applied, 0)).toBe(3);
    expect(writer.pending).toBe(0);
    expect(await statuses(store, batchId)).toBe("succeeded,succeeded,failed");
    await expectCountsMatchItems(store, batchId);
  });
});
