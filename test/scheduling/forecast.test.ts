/**
 * The forecast (src/scheduling/forecast.ts): a fluid simulation of the share policy gives each queued Batch
 * its finish time, accounting for the work ahead of it as the scheduler orders it.
 */
import { describe, expect, it } from "vitest";
import { BatchHours } from "../../src/core/batch-hours.ts";
import { forecastBatches } from "../../src/scheduling/forecast.ts";
import type { QueueEntry } from "../../src/scheduling/fair-share.ts";

const NOW = Date.UTC(2026, 0, 5, 12);
const HOUR = 3_600_000;
const DAY = 24 * HOUR;
const batch = (seq: number, remaining: number, options: { priority?: number; dueInMs?: number } = {}): QueueEntry => ({ seq, remaining, priority: options.priority ?? 0, expiresAtMs: NOW + (options.dueInMs ?? DAY) });

describe("forecast", () => {
  it("finishes a lone batch at its remaining work over the capacity", () => {
    const forecast = forecastBatches([batch(1, 50_000)], { nowMs: NOW, capacity: 100, hours: null });
    expect(forecast.get(1)?.finishMs).toBeCloseTo(NOW + 500_000, -1);
    expect(forecast.get(1)?.share).toBe(1);
  });

  it("stops once the batches asked about have finished, forecasting them exactly as the whole queue does", () => {
    // Ten equal batches: the third finishes third; a progress read of it need not simulate the seven after it.
    const queue = Array.from({ length: 10 }, (_, i) => batch(i + 1, 1_000));
    const context = { nowMs: NOW, capacity: 100, hours: null };
    const whole = forecastBatches(queue, context);
    const asked = forecastBatches(queue, context, { until: new Set([3]) });
    expect(asked.get(3)).toEqual(whole.get(3));
    expect(whole.get(10)?.finishMs).toBeCloseTo(NOW + 100_000, -1);
    expect(asked.get(10)).toEqual({ ...whole.get(10), finishMs: null });
    // Every batch still has its share now, finished in the simulation or not.
    expect([...asked.values()].map((forecast) => forecast.share)).toEqual([...whole.values()].map((forecast) => forecast.share));
  });

  it("finishes a small batch behind a big one in a third more than its own time, and the big one when all work is done", () => {
    const forecast = forecastBatches([batch(1, 200_000), batch(2, 10)], { nowMs: NOW, capacity: 1_000, hours: null });
    const small = (forecast.get(2)?.finishMs ?? 0) - NOW;
    const big = (forecast.get(1)?.finishMs ?? 0) - NOW;
    // First in line: three quarters of what the 24 h deadline's sliver (reserved for the big batch) leaves.
    expect(small).toBeGreaterThan(13);
    expect(small).toBeLessThan(14);
    expect(big).toBeCloseTo(200_010, -2);
  });

  it("finishes a higher-priority batch first, with the lower one still moving", () => {
    const forecast = forecastBatches([batch(1, 9_000), batch(2, 9_000, { priority: 3 })], { nowMs: NOW, capacity: 100, hours: null });
    const high = (forecast.get(2)?.finishMs ?? 0) - NOW;
    const low = (forecast.get(1)?.finishMs ?? 0) - NOW;
    // 0.5 + 0.5 * 8/9 of the Model, less the low batch's deadline sliver (it is older, so due first).
    expect(high).toBeGreaterThan(95_000);
    expect(high).toBeLessThan(96_500);
    expect(low).toBeCloseTo(180_000, -3);
  });

  it("starts a batch that can wait for the batch hours when they open", () => {
    const hours = BatchHours.parse("16:30-00:30 UTC");
    const forecast = forecastBatches([batch(1, 36_000)], { nowMs: NOW, capacity: 10, hours });
    expect(forecast.get(1)?.heldUntilMs).toBe(Date.UTC(2026, 0, 5, 16, 30));
    expect(forecast.get(1)?.share).toBe(0);
    expect(forecast.get(1)?.finishMs).toBeCloseTo(Date.UTC(2026, 0, 5, 17, 30), -4);
  });

  it("runs a batch outside the batch hours only as long as waiting would miss its deadline", () => {
    const hours = BatchHours.parse("16:30-00:30 UTC");
    // Due 17:00 with 2 h of work at 10/s: it cannot wait, and runs from now.
    const forecast = forecastBatches([batch(1, 72_000, { dueInMs: 5 * HOUR })], { nowMs: NOW, capacity: 10, hours });
    expect(forecast.get(1)?.heldUntilMs).toBeNull();
    const finish = forecast.get(1)?.finishMs ?? 0;
    expect(finish).toBeGreaterThan(NOW + 2 * HOUR - 1_000);
    expect(finish).toBeLessThanOrEqual(NOW + 5 * HOUR);
  });

  it("knows no finish without a measured capacity, but still the shares", () => {
    const forecast = forecastBatches([batch(1, 10), batch(2, 10)], { nowMs: NOW, capacity: null, hours: null });
    expect([...forecast.values()]).toEqual([
      { finishMs: null, share: 0.75, heldUntilMs: null },
      { finishMs: null, share: 0.25, heldUntilMs: null },
    ]);
  });
});
