/**
 * Which Items the Worker runs next (issue 12), through the real loop: a real Store, Dispatcher and `openai`
 * Engine against the fake upstream, with the Model's concurrency at 1 so the upstream sees the requests in
 * exactly the order the lane dispatched them. Time (deadlines, batch hours) follows the manual clock; it
 * never moves on its own, so no throughput is measured and the shares are decided by priority alone.
 */
import { describe, expect, it } from "vitest";
import { chatLine } from "../helpers/batch-files.ts";
import { storeBackends, useStores } from "../helpers/store-backends.ts";
import { waitFor } from "../helpers/wait-for.ts";
import { gate, HOUR_MS, itemsOf, useLoopFixture } from "./loop-fixture.ts";
import type { Store } from "../../src/store/store.ts";

const lines = (prefix: string, count: number): string[] => Array.from({ length: count }, (_, i) => chatLine(`${prefix}-${i}`, `${prefix} ${i}`));

async function finished(store: Store, batchId: string): Promise<void> {
  await waitFor(async () => (await itemsOf(store, batchId)).every((item) => item.status === "succeeded"), { what: `every Item of ${batchId} to succeed` });
}

describe.each(storeBackends)("Worker scheduling on the $name store", (backend) => {
  const stores = useStores(backend);
  const loops = useLoopFixture();

  it("runs a small batch queued behind a large one alongside it, not after it", async () => {
    const { store, upstream, startBatch, createWorker } = await loops.create(await stores.open());
    const order: string[] = [];
    upstream.setFault(({ key }) => void order.push(key));
    const large = await startBatch(lines("large", 30));
    const small = await startBatch(lines("small", 3));
    createWorker({ concurrency: 1 }).start();
    await finished(store, large.id);
    await finished(store, small.id);
    // The small batch, first in line, gets three quarters of the claims: it is done within the first six
    // requests, where first-come-first-served would have run it 31st to 33rd.
    const smallPositions = order.map((key, position) => (key.startsWith("small") ? position : -1)).filter((position) => position >= 0);
    expect(smallPositions).toHaveLength(3);
    expect(Math.max(...smallPositions)).toBeLessThan(6);
    expect(order).toHaveLength(33);
  });

  it("claims a batch started beside a full lane at once, and runs it ahead of the Items already claimed ahead", async () => {
    const { store, upstream, startBatch, createWorker } = await loops.create(await stores.open());
    const order: string[] = [];
    const held = gate();
    // The large batch's first claim (eight Items) runs through; the later ones are held upstream.
    const number = (key: string): number => Number(key.split(" ")[1]);
    upstream.setFault(({ key }) => {
      order.push(key);
      return key.startsWith("large") && number(key) >= 8 ? { until: held.opened } : undefined;
    });
    const large = await startBatch(lines("large", 20));
    const worker = createWorker({ concurrency: 4 });
    worker.start();
    // Full: four requests held upstream and three or four more claimed ahead (up to twice the concurrency, in
    // claims of at least two), waiting for slots.
    const running = async (batchId: string): Promise<number> => (await itemsOf(store, batchId)).filter((item) => item.status === "running").length;
    await waitFor(async () => order.length === 12 && (await running(large.id)) >= 7, { what: "the lane full of large Items" });
    const small = await startBatch(lines("small", 2));
    worker.batchStarted();
    // Claimed while every slot is still held: the lane does not wait for a run of the large batch to finish.
    await waitFor(async () => (await itemsOf(store, small.id)).every((item) => item.status === "running"), { what: "the small batch's Items claimed", timeoutMs: 5_000 });
    expect([...order].sort((a, b) => number(a) - number(b))).toEqual(Array.from({ length: 12 }, (_, i) => `large ${i}`));
    held.open();
    await finished(store, large.id);
    await finished(store, small.id);
    // And run first once slots free, ahead of the large batch's Items claimed before it started.
    expect(order.slice(12, 16)).toEqual(["small 0", "small 1", "large 12", "large 13"]);
  });

  it("gives a higher-priority batch most of the claims without stopping the lower one", async () => {
    const { store, upstream, startBatch, createWorker } = await loops.create(await stores.open());
    const order: string[] = [];
    upstream.setFault(({ key }) => void order.push(key));
    const low = await startBatch(lines("low", 20));
    const high = await startBatch(lines("high", 16), { priority: 2 });
    createWorker({ concurrency: 1 }).start();
    await finished(store, high.id);
    await finished(store, low.id);
    // Weights 4:1, and the high batch is first in line: 0.9 of the claims against 0.1. By the time the last
    // high-priority request went out, the low batch had about 2 of its 20 sent: fewer than FIFO (all 20)
    // and more than strict priority (none).
    const lastHigh = Math.max(...order.map((key, position) => (key.startsWith("high") ? position : -1)));
    const lowBefore = order.slice(0, lastHigh).filter((key) => key.startsWith("low")).length;
    expect(lowBefore).toBeGreaterThanOrEqual(1);
    expect(lowBefore).toBeLessThanOrEqual(4);
  });

  it("holds batch Items for the Model's batch hours unless waiting would miss the batch's deadline", async () => {
    const { store, clock, upstream, startBatch, createWorker } = await loops.create(await stores.open());
    clock.set(Date.UTC(2026, 0, 5, 12));
    const order: string[] = [];
    upstream.setFault(({ key }) => void order.push(key));
    // The window opens at 16:30: a 24 h batch can wait for it; one due at 13:00 cannot.
    const patient = await startBatch(lines("patient", 3));
    const urgent = await startBatch(lines("urgent", 2), { expiresInMs: HOUR_MS });
    const worker = createWorker({ concurrency: 1, schedule: { batchHours: "16:30-00:30 UTC" } });
    worker.start();
    await finished(store, urgent.id);
    expect(order).toEqual(["urgent 0", "urgent 1"]);
    expect((await itemsOf(store, patient.id)).map((item) => item.status)).toEqual(["pending", "pending", "pending"]);

    clock.set(Date.UTC(2026, 0, 5, 16, 31));
    worker.notify();
    await finished(store, patient.id);
    expect(order.slice(2).sort()).toEqual(["patient 0", "patient 1", "patient 2"]);
  });
});
