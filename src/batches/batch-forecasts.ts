/**
 * When will these Batches finish (issue 12)? For each Model involved: the Batches queued on it and its
 * measured throughput, read from the Store (so any process answers alike, Workers or not), and the
 * scheduler's own forecast over them (src/scheduling/forecast.ts). Two reads per Model, not per Batch:
 * the dashboard's list of twenty Batches on one Model costs what one Batch costs.
 *
 * A Batch still validating is not queued yet: it joins the forecast with the size and Model its input
 * suggests (input-sample.ts, read when first asked, not at create), so an ETA exists from the moment the
 * Batch does.
 */
import type { ModelCatalog } from "../core/model-catalog.ts";
import { BatchHours } from "../core/batch-hours.ts";
import type { BatchForecast } from "../core/batch-progress.ts";
import type { Clock } from "../core/clock.ts";
import type { Batch } from "../core/types.ts";
import { MAX_QUEUED_BATCHES, type QueueEntry } from "../scheduling/fair-share.ts";
import { forecastBatches } from "../scheduling/forecast.ts";
import { THROUGHPUT_ROUND_MS } from "../scheduling/throughput-meter.ts";
import type { Store } from "../store/store.ts";
import type { ExpectedWork } from "./input-sample.ts";

export interface ForecastDeps {
  store: Store;
  clock: Clock;
  /** The Models' batch hours; when absent, no Model has batch hours. */
  catalog?: ModelCatalog;
  /** Forecasts of long queues kept for the reads of the next second; absent: every read simulates. */
  reuse?: ForecastReuse;
}

/** How long a long queue's forecast answers reads, and from how many queued Batches a queue counts as long. */
export const FORECAST_REUSE_MS = 1_000;
export const REUSE_FROM_BATCHES = 100;

/**
 * The last forecast of each Model whose queue is long. Simulating a queue costs about its length squared
 * (a plan of the shares per Batch that finishes: 164 ms of CPU for 1,000 Batches), so a script polling the
 * progress of each of its 1,000 Batches would have run one such simulation per read. With this, reads
 * within FORECAST_REUSE_MS share one, at most a second old; short queues are simulated for every read,
 * to the Batches asked about only.
 */
export class ForecastReuse {
  private readonly byModel = new Map<string, { atMs: number; forecasts: Map<number, BatchForecast> }>();

  /** The kept forecast of `model` when it is fresh at `nowMs` and has every one of `seqs`. */
  find(model: string, seqs: readonly number[], nowMs: number): Map<number, BatchForecast> | null {
    const kept = this.byModel.get(model);
    if (kept === undefined || nowMs < kept.atMs || nowMs - kept.atMs >= FORECAST_REUSE_MS) return null;
    return seqs.every((seq) => kept.forecasts.has(seq)) ? kept.forecasts : null;
  }

  keep(model: string, forecasts: Map<number, BatchForecast>, nowMs: number): void {
    this.byModel.set(model, { atMs: nowMs, forecasts });
  }
}

/**
 * Forecasts by Batch id, for the Batches that still run (validating or in progress) on a known Model.
 * `expectedOf` tells what a validating Batch's input suggests.
 */
export async function forecastsOf(deps: ForecastDeps, batches: readonly Batch[], expectedOf: (batch: Batch) => Promise<ExpectedWork>): Promise<Map<string, BatchForecast>> {
  const byModel = new Map<string, Batch[]>();
  const expected = new Map<string, ExpectedWork>();
  for (const batch of batches) {
    if (batch.status !== "validating" && batch.status !== "in_progress") continue;
    if (batch.status === "validating") expected.set(batch.id, await expectedOf(batch));
    const model = batch.model ?? expected.get(batch.id)?.expectedModel ?? null;
    if (model === null) continue;
    byModel.set(model, [...(byModel.get(model) ?? []), batch]);
  }
  const forecasts = new Map<string, BatchForecast>();
  await Promise.all(
    [...byModel].map(async ([model, wanted]) => {
      const kept = deps.reuse?.find(model, wanted.map((batch) => batch.seq), deps.clock.now());
      if (kept) {
        for (const batch of wanted) forecasts.set(batch.id, kept.get(batch.seq) as BatchForecast);
        return;
      }
      const [queued, measured] = await Promise.all([deps.store.queuedBatches(model, MAX_QUEUED_BATCHES), deps.store.modelThroughput(model, THROUGHPUT_ROUND_MS)]);
      const entries: QueueEntry[] = queued.map(({ seq, tenant, priority, expiresAtMs, remaining }) => ({ seq, tenant, priority, expiresAtMs, remaining }));
      for (const batch of wanted) {
        if (entries.some((entry) => entry.seq === batch.seq)) continue;
        // Not queued: validating, or every Item left is running (the tail of a Batch).
        const remaining = remainingOf(batch, expected.get(batch.id)?.expectedItems ?? 0);
        // With its tenant, as queued Batches have theirs: without it the Batch would count as a tenant of its own.
        if (remaining > 0) entries.push({ seq: batch.seq, tenant: batch.tenant, priority: batch.priority, expiresAtMs: batch.expiresAtMs, remaining });
      }
      const nowMs = deps.clock.now();
      const context = { nowMs, capacity: measured?.itemsPerSecond ?? null, hours: hoursOf(deps.catalog, model) };
      // A long queue is simulated whole, once for the reads of the next second; a short one for this read only.
      const shared = deps.reuse !== undefined && entries.length >= REUSE_FROM_BATCHES;
      const byBatch = forecastBatches(entries, context, shared ? {} : { until: new Set(wanted.map((batch) => batch.seq).filter((seq) => entries.some((entry) => entry.seq === seq))) });
      if (shared) deps.reuse?.keep(model, byBatch, nowMs);
      for (const batch of wanted) {
        const forecast = byBatch.get(batch.seq);
        if (forecast) forecasts.set(batch.id, forecast);
      }
    }),
  );
  return forecasts;
}

/** Items without a result; while validating, as many as the input suggests (Items are still being read). */
function remainingOf(batch: Batch, expectedItems: number): number {
  const { total, succeeded, failed, cancelled, expired } = batch.counts;
  return Math.max(total, expectedItems) - succeeded - failed - cancelled - expired;
}

const parsedHours = new Map<string, BatchHours>();

function hoursOf(catalog: ModelCatalog | undefined, model: string): BatchHours | null {
  const text = catalog?.get(model)?.schedule?.batchHours;
  if (text === undefined) return null;
  let hours = parsedHours.get(text);
  if (!hours) {
    hours = BatchHours.parse(text);
    parsedHours.set(text, hours);
  }
  return hours;
}
