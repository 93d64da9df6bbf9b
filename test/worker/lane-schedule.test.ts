/**
 * When a Worker lane reads its Model's queue again (src/worker/lane-schedule.ts): notify() (a Batch
 * started) makes the next claim read it at once while the lane has nothing queued, or one large Batch (a
 * Batch started beside it would otherwise wait behind its claims), and at most every MIN_REREAD_MS while it
 * has small ones (decision 0038: with 1,000 small Batches starting one after another a read per start cost
 * about 1 ms of CPU each). The Store is real; a pass-through counts its queue reads.
 */
import { describe, expect, it } from "vitest";
import type { ModelConfig } from "../../src/config/config.ts";
import { ManualClock } from "../../src/core/clock.ts";
import type { Store } from "../../src/store/store.ts";
import { LaneSchedule, MIN_REREAD_MS } from "../../src/worker/lane-schedule.ts";
import { storeBackends, useStores } from "../helpers/store-backends.ts";
import { MODEL, startedBatch, T0 } from "../store/store-fixtures.ts";

/** The Store as it is, with its `queuedBatches` calls counted. */
function countingQueueReads(store: Store): { store: Store; reads: () => number } {
  let reads = 0;
  const counted = new Proxy(store, {
    get(target, property, receiver) {
      const value = Reflect.get(target, property, receiver) as unknown;
      if (property === "queuedBatches") reads += 1;
      return typeof value === "function" ? value.bind(target) : value;
    },
  });
  return { store: counted, reads: () => reads };
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

describe.each(storeBackends)("Worker lane schedule on the $name store", (backend) => {
  const stores = useStores(backend);

  it("reads the queue at once after notify while idle, and at most every MIN_REREAD_MS while it has Batches queued", async () => {
    const real = await stores.open();
    const { store, reads } = countingQueueReads(real);
    const schedule = new LaneSchedule({ name: MODEL } as ModelConfig, { store, clock: new ManualClock(T0), owner: "w", refreshMs: 60_000 });

    // Nothing queued: a started Batch is seen by the very next claim.
    expect(await schedule.plan(8)).toEqual([]);
    expect(reads()).toBe(1);
    const first = await startedBatch(real, 20);
    schedule.invalidate();
    expect((await schedule.plan(8)).map((entry) => entry.batchSeq)).toEqual([first.seq]);
    expect(reads()).toBe(2);

    // Busy with `first`: a second Batch started just now waits for the bound, then joins the shares.
    const startedAt = performance.now();
    const second = await startedBatch(real, 3, { createdAtMs: T0 + 1 });
    schedule.invalidate();
    const soon = await schedule.plan(8);
    if (performance.now() - startedAt < MIN_REREAD_MS) {
      expect(reads()).toBe(2);
      expect(soon.map((entry) => entry.batchSeq)).toEqual([first.seq]);
    }
    await sleep(MIN_REREAD_MS);
    const later = await schedule.plan(8);
    expect(reads()).toBe(3);
    expect(later.map((entry) => entry.batchSeq)).toContain(second.seq);

    // Without notify nothing is read again before the refresh interval.
    await sleep(MIN_REREAD_MS);
    await schedule.plan(8);
    expect(reads()).toBe(3);
  });

  it("reads the queue at once after notify while one large Batch is all it has, so a small one joins it without waiting", async () => {
    const real = await stores.open();
    const { store, reads } = countingQueueReads(real);
    const schedule = new LaneSchedule({ name: MODEL } as ModelConfig, { store, clock: new ManualClock(T0), owner: "w", refreshMs: 60_000 });
    // 2,000 Items: two seconds of work at the guessed 1,000 Items/s (no throughput measured yet).
    const large = await startedBatch(real, 2_000);
    expect((await schedule.plan(8)).map((entry) => entry.batchSeq)).toEqual([large.seq]);
    expect(reads()).toBe(1);

    const small = await startedBatch(real, 3, { createdAtMs: T0 + 1 });
    schedule.invalidate();
    const next = await schedule.plan(8);
    expect(reads()).toBe(2);
    expect(next.map((entry) => entry.batchSeq)).toContain(small.seq);
  });
  it("reads the queue again when notify comes while a read is in flight, instead of waiting for the refresh interval", async () => {
    const real = await stores.open();
    const large = await startedBatch(real, 2_000);
    let small: Awaited<ReturnType<typeof startedBatch>> | null = null;
    let reads = 0;
    let schedule: LaneSchedule | null = null;
    // The second read's query has run (it did not see the small Batch) when the small Batch starts and
    // notify() arrives, before the read has finished.
    const store = new Proxy(real, {
      get(target, property, receiver) {
        const value = Reflect.get(target, property, receiver) as unknown;
        if (property !== "queuedBatches" || typeof value !== "function") return typeof value === "function" ? value.bind(target) : value;
        return async (...args: unknown[]) => {
          const queue = (await (value as (...a: unknown[]) => Promise<unknown>).apply(target, args)) as unknown;
          reads += 1;
          if (reads === 2) {
            small = await startedBatch(real, 3, { createdAtMs: T0 + 1 });
            schedule!.invalidate();
          }
          return queue;
        };
      },
    });
    schedule = new LaneSchedule({ name: MODEL } as ModelConfig, { store, clock: new ManualClock(T0), owner: "w", refreshMs: 60_000 });
    expect((await schedule.plan(8)).map((entry) => entry.batchSeq)).toEqual([large.seq]);
    schedule.invalidate();
    // The read notify asked for: it answered from before the small Batch started.
    expect((await schedule.plan(8)).map((entry) => entry.batchSeq)).toEqual([large.seq]);
    expect(reads).toBe(2);
    // The notify that came during it is not lost: the next claim reads again and sees the small Batch.
    const next = await schedule.plan(8);
    expect(reads).toBe(3);
    expect(next.map((entry) => entry.batchSeq)).toContain(small!.seq);
  });

  it("tells a Batch drained when a read finds it gone, after a claim took exactly the Items it had", async () => {
    const real = await stores.open();
    const clock = new ManualClock(T0);
    const schedule = new LaneSchedule({ name: MODEL } as ModelConfig, { store: real, clock, owner: "w", refreshMs: 0 });
    const small = await startedBatch(real, 3);
    const plan = await schedule.plan(8);
    expect(plan).toEqual([{ batchSeq: small.seq, limit: 3 }]);
    const items = await real.claimItems({ owner: "w", model: MODEL, limit: 8, nowMs: T0, leaseMs: 60_000, batches: plan });
    expect(items).toHaveLength(3);
    // The claim got all it asked for: nothing tells yet that the Batch has none left.
    expect(schedule.claimed(plan, items)).toEqual([]);
    // The next read (every claim, with refreshMs 0) no longer lists it: the claim after that says so, once.
    expect(await schedule.plan(8)).toEqual([]);
    expect(schedule.claimed([], [])).toEqual([small.id]);
    expect(await schedule.plan(8)).toEqual([]);
    expect(schedule.claimed([], [])).toEqual([]);
  });
});
