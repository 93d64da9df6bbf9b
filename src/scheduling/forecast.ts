/**
 * When will each queued Batch finish? A fluid simulation of the share policy (fair-share.ts): the Model
 * finishes `capacity` Items per second, split by the shares the Worker lanes use; time moves from event to
 * event (a Batch finishes, the batch hours open or close), re-planning the shares at each, and in steps of
 * at most 1/200 of the horizon in between (reservations and holds drift as time passes). So the ETA
 * accounts for the work queued ahead as the scheduler will really order it: a small Batch behind a big
 * one is forecast to finish in seconds, a Batch waiting for off-peak hours after they open, a low-priority
 * Batch after the high-priority work it yields to.
 *
 * What it cannot know: Batches not yet validated (their size), capacity changing (the measured rate is
 * assumed to hold), Items that fail and are retried. It is re-run on every progress read, so the estimate
 * follows what happens.
 */
import type { BatchForecast } from "../core/batch-progress.ts";
import { planShares, type QueueEntry, type ScheduleContext } from "./fair-share.ts";

/** Forecasts past this are "not foreseeable" (null): far beyond any completion window. */
const HORIZON_MS = 60 * 86_400_000;
const MAX_STEPS = 5_000;
const STEPS_PER_HORIZON = 200;

export function forecastBatches(batches: readonly QueueEntry[], context: ScheduleContext): Map<number, BatchForecast> {
  const now = planShares(batches, context);
  const forecasts = new Map<number, BatchForecast>(now.map((share) => [share.seq, { finishMs: null, share: share.fraction, heldUntilMs: share.heldUntilMs }]));
  const { capacity, hours } = context;
  if (capacity === null || capacity <= 0) return forecasts;

  const remaining = new Map(batches.map((batch) => [batch.seq, batch.remaining]));
  const latestDeadline = Math.max(context.nowMs, ...batches.map((batch) => batch.expiresAtMs));
  const stepCapMs = Math.max(1_000, (latestDeadline - context.nowMs) / STEPS_PER_HORIZON);
  let t = context.nowMs;
  for (let step = 0; step < MAX_STEPS && t - context.nowMs < HORIZON_MS; step += 1) {
    const queued = batches.filter((batch) => (remaining.get(batch.seq) ?? 0) > 0).map((batch) => ({ ...batch, remaining: remaining.get(batch.seq) ?? 0 }));
    for (const batch of batches) if ((remaining.get(batch.seq) ?? 0) <= 0 && forecasts.get(batch.seq)?.finishMs === null) setFinish(forecasts, batch.seq, t);
    if (queued.length === 0) break;
    const rates = planShares(queued, { nowMs: t, capacity, hours }).map((share) => ({ seq: share.seq, perMs: (share.fraction * capacity) / 1000 }));
    let dt = Math.min(stepCapMs, hours === null ? Infinity : hours.nextChangeMs(t) - t);
    for (const { seq, perMs } of rates) if (perMs > 0) dt = Math.min(dt, (remaining.get(seq) ?? 0) / perMs);
    for (const { seq, perMs } of rates) {
      const left = (remaining.get(seq) ?? 0) - perMs * dt;
      // Floating point: a Batch whose finish set this step's length ends exactly now.
      remaining.set(seq, left < 1e-6 ? 0 : left);
    }
    t += Math.max(dt, 1);
  }
  return forecasts;
}

function setFinish(forecasts: Map<number, BatchForecast>, seq: number, finishMs: number): void {
  const forecast = forecasts.get(seq);
  if (forecast) forecasts.set(seq, { ...forecast, finishMs });
}
