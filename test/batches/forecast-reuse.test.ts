/**
 * Forecasts of long queues are shared by the reads of one second (src/batches/batch-forecasts.ts): simulating
 * a queue costs about its length squared, so a client polling the progress of each of its 1,000 Batches ran
 * one simulation per read. Short queues are still simulated for every read. Real Store, manual clock.
 */
import { describe, expect, it } from "vitest";
import { FORECAST_REUSE_MS, ForecastReuse, forecastsOf, REUSE_FROM_BATCHES } from "../../src/batches/batch-forecasts.ts";
import { ManualClock } from "../../src/core/clock.ts";
import type { Batch } from "../../src/core/types.ts";
import type { Store } from "../../src/store/store.ts";
import { storeBackends, useStores } from "../helpers/store-backends.ts";
import { startedBatch, T0 } from "../store/store-fixtures.ts";

const noSample = async (): Promise<Record<string, never>> => ({});

async function queue(store: Store, count: number): Promise<Batch[]> {
  const batches: Batch[] = [];
  for (let i = 0; i < count; i += 1) batches.push(await startedBatch(store, 1, { createdAtMs: T0 + i }));
  return batches;
}

describe.each(storeBackends)("$name store: forecasts of long queues shared for a second", (backend) => {
  const stores = useStores(backend);

  it("answers reads within a second from one forecast of a long queue, and sees a change after it", async () => {
    const store = await stores.open();
    const clock = new ManualClock(T0 + 60_000);
    const deps = { store, clock, reuse: new ForecastReuse() };
    const [oldest, second] = await queue(store, REUSE_FROM_BATCHES);
    const shareOf = async (batch: Batch): Promise<number | undefined> => (await forecastsOf(deps, [batch], noSample)).get(batch.id)?.share;
    const before = await shareOf(oldest as Batch);
    expect(before).toBeGreaterThan(0.5);

    // A higher-priority Batch arrives: within the second every read still answers from the kept forecast.
    const urgent = await startedBatch(store, 1, { createdAtMs: T0 + 1_000, batch: { priority: 5 } });
    clock.advance(FORECAST_REUSE_MS - 1);
    expect(await shareOf(oldest as Batch)).toBe(before);
    expect((await forecastsOf(deps, [second as Batch], noSample)).get((second as Batch).id)).toBeDefined();
    // The new Batch is not in it: its read simulates the queue again, and so sees it.
    expect(await shareOf(urgent)).toBeGreaterThan(0.5);
    clock.advance(FORECAST_REUSE_MS);
    expect(await shareOf(oldest as Batch)).toBeLessThan(before as number);
  });

  it("simulates a short queue for every read", async () => {
    const store = await stores.open();
    const deps = { store, clock: new ManualClock(T0 + 60_000), reuse: new ForecastReuse() };
    const [oldest] = await queue(store, 5);
    const shareOf = async (): Promise<number | undefined> => (await forecastsOf(deps, [oldest as Batch], noSample)).get((oldest as Batch).id)?.share;
    const before = await shareOf();
    await startedBatch(store, 1, { createdAtMs: T0 + 1_000, batch: { priority: 5 } });
    expect(await shareOf()).toBeLessThan(before as number);
  });
});
