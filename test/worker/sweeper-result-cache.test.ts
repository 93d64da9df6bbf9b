/**
 * The result cache across Batches in the loops (issue 10 part 5): validation gives a later Batch's
 * identical Items the results a Worker cached, and the Sweeper's pass purges results older than the
 * Model's maxAgeHours, after which the same lines run again. Time follows the fixture's manual clock.
 */
import { describe, expect, it } from "vitest";
import { chatLine } from "../helpers/batch-files.ts";
import { storeBackends, useStores } from "../helpers/store-backends.ts";
import { waitFor } from "../helpers/wait-for.ts";
import { HOUR_MS, itemsOf, MODEL, useLoopFixture, type LoopFixture } from "./loop-fixture.ts";

const LINES = [0, 1, 2].map((i) => chatLine(`req-${i}`, `prompt ${i}`, MODEL, { temperature: 0 }));
const CACHE = { maxAgeHours: 1 };
const upstreamCalls = (upstream: LoopFixture["upstream"]): number => [...upstream.countsByKey.values()].reduce((sum, count) => sum + count, 0);

/** Submits LINES and validates them with a Sweeper whose Model caches results; returns the Items' statuses. */
async function submitAndValidate(fixture: LoopFixture): Promise<{ batchId: string; statuses: string[] }> {
  const batch = await fixture.submitBatch(LINES);
  expect(await fixture.createSweeper({ resultCache: CACHE }).validatePending()).toBe(1);
  return { batchId: batch.id, statuses: (await itemsOf(fixture.store, batch.id)).map((item) => item.status) };
}

describe.each(storeBackends)("result cache in the loops on the $name store", (backend) => {
  const stores = useStores(backend);
  const loops = useLoopFixture();

  it("reuses what a Worker cached, until the Sweeper purges it past maxAgeHours", async () => {
    const fixture = await loops.create(await stores.open());
    const { store, clock, upstream } = fixture;
    const first = await submitAndValidate(fixture);
    expect(first.statuses).toEqual(["pending", "pending", "pending"]);
    fixture.createWorker({ resultCache: CACHE }).start();
    await waitFor(async () => (await store.getBatch(first.batchId))?.counts.succeeded === 3, { what: "the first batch to run" });
    expect(upstreamCalls(upstream)).toBe(3);

    clock.advance(30 * 60_000);
    const second = await submitAndValidate(fixture);
    expect(second.statuses).toEqual(["succeeded", "succeeded", "succeeded"]);
    expect((await store.getBatch(second.batchId))?.reusedItems).toBe(3);

    // Past the hour, a sweep pass deletes the three results; the same lines then run again.
    clock.advance(HOUR_MS);
    const sweeper = fixture.createSweeper({ resultCache: CACHE });
    await sweeper.sweep();
    expect(await store.purgeResultCache([], 10)).toBe(0); // nothing left for a purge that keeps nothing
    const third = await submitAndValidate(fixture);
    expect(third.statuses.filter((status) => status === "succeeded")).toEqual([]);
    await waitFor(async () => (await store.getBatch(third.batchId))?.counts.succeeded === 3, { what: "the third batch to run" });
    expect(upstreamCalls(upstream)).toBe(6);
  });
});
