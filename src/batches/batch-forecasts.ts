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
      const [queued, measured] = await Promise.all([deps.store.queuedBatches(model, MAX_QUEUED_BATCHES), deps.store.modelThroughput(model, THROUGHPUT_ROUND_MS)]);
      const entries: QueueEntry[] = queued.map(({ seq, tenant, priority, expiresAtMs, remaining }) => ({ seq, tenant, priority, expiresAtMs, remaining }));
      for (const batch of wanted) {
        if (entries.some((entry) => entry.seq === batch.seq)) continue;
        // Not queued: validating, or every Item left is running (the tail of a Batch).
        const remaining = remainingOf(batch, expected.get(batch.id)?.expectedItems ?? 0);
        // With its tenant, as queued Batches have theirs: without it the Batch would count as a tenant of its own.
        if (remaining > 0) entries.push({ seq: batch.seq, tenant: batch.tenant, priority: batch.priority, expiresAtMs: batch.expiresAtMs, remaining });
      }
      const byBatch = forecastBatches(entries, { nowMs: deps.clock.now(), capacity: measured?.itemsPerSecond ?? null, hours: hoursOf(deps.catalog, model) }, { until: new Set(wanted.map((batch) => batch.seq).filter((seq) => entries.some((entry) => entry.seq === seq))) });
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
