/**
 * The Metrics contract (src/core/metrics.ts) for Prometheus: counters and histograms of this process, bumped
 * in memory as the Worker, the Dispatcher and the Sweeper report. Conventional names: a `spool_` prefix,
 * base units (seconds, tokens), `_total` on counters. The gauges read from the Store at scrape time are in
 * store-gauges.ts.
 *
 * The per-Item and per-call series live in fast-metrics.ts and are looked up once per Model (one Map read per
 * call, then plain additions): about a tenth of a microsecond per report instead of prom-client's label
 * hashing. The rare ones (retries, validations, finalizations) use prom-client directly.
 *
 * Labels are bounded: `model` is a configured Model, `status`, `outcome` and `reason` come from small closed
 * sets (an upstream's HTTP status is one label value per status code, which upstreams keep few).
 */
import { Counter, Histogram, type Registry } from "prom-client";
import { EngineError } from "../core/engine.ts";
import type { MeasuredItem, Metrics } from "../core/metrics.ts";
import type { Batch, ItemResult } from "../core/types.ts";
import { BatchStartTimes, type LoadStartTime } from "./batch-start-times.ts";
import { FastCounter, FastHistogram, type CounterSeries, type HistogramSeries } from "./fast-metrics.ts";
import { RecentRates } from "./recent-rates.ts";

/** From tens of milliseconds (an idle queue) to a day (a Batch's whole window). */
const WAIT_BUCKETS = [0.01, 0.05, 0.1, 0.5, 1, 5, 15, 60, 300, 900, 3_600, 14_400, 86_400];
/** An upstream call: milliseconds for embeddings, up to minutes for long generations. */
const CALL_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 180, 600];
/** Validating or finalizing a Batch: streaming up to millions of lines. */
const PHASE_BUCKETS = [0.01, 0.05, 0.1, 0.5, 1, 5, 15, 60, 300, 1_800];

/** Why an Engine call failed, as a label: `http_<status>` for an upstream's answer, else the failure's kind. */
export function failureReason(error: unknown): string {
  if (error instanceof EngineError) return error.kind === "http" && error.statusCode !== null ? `http_${error.statusCode}` : error.kind;
  return "internal";
}

/** One Model's hot-path series, resolved once. */
interface ModelSeries {
  claimed: CounterSeries;
  succeeded: CounterSeries;
  failed: CounterSeries;
  inputTokens: CounterSeries;
  outputTokens: CounterSeries;
  cachedInputTokens: CounterSeries;
  rateLimited: CounterSeries;
  pickupDelay: HistogramSeries;
  timeToResult: HistogramSeries;
  /** Call durations by outcome; "ok" is the common one. */
  calls: Map<string, HistogramSeries>;
}

export class PromMetrics implements Metrics {
  readonly recent = new RecentRates();
  private readonly startTimes: BatchStartTimes;
  private readonly models = new Map<string, ModelSeries>();
  private readonly claimed: FastCounter;
  private readonly finished: FastCounter;
  private readonly tokens: FastCounter;
  private readonly rateLimited: FastCounter;
  private readonly pickupDelay: FastHistogram;
  private readonly timeToResult: FastHistogram;
  private readonly callDuration: FastHistogram;
  private readonly retries: Counter<"model" | "reason">;
  private readonly validation: Histogram<"outcome">;
  private readonly finalization: Histogram<"status">;
  private readonly batchesEnded: Counter<"dialect" | "status">;
  private readonly batchesArchived: Counter;
  private readonly itemsPurged: Counter;

  constructor(registry: Registry, loadStartTime: LoadStartTime) {
    this.startTimes = new BatchStartTimes(loadStartTime);
    this.claimed = new FastCounter(registry, "spool_items_claimed_total", "Items claimed by this process's Workers (each Attempt counts).", ["model"]);
    this.finished = new FastCounter(registry, "spool_items_finished_total", "Item results recorded by this process's Workers, by outcome.", ["model", "status"]);
    this.tokens = new FastCounter(registry, "spool_tokens_total", "Tokens of recorded Item results (type: input, output, or cached_input: the part of input the engine took from its prefix cache, where it says so).", ["model", "type"]);
    this.rateLimited = new FastCounter(registry, "spool_upstream_rate_limited_total", "Engine calls answered 429 (rate limited).", ["model"]);
    this.pickupDelay = new FastHistogram(registry, "spool_item_pickup_delay_seconds", "From an Item becoming claimable (its Batch going in_progress) to its first claim.", ["model"], WAIT_BUCKETS);
    this.timeToResult = new FastHistogram(registry, "spool_item_time_to_result_seconds", "From an Item becoming claimable to its result, for Items finished on their first Attempt.", ["model"], WAIT_BUCKETS);
    this.callDuration = new FastHistogram(
      registry,
      "spool_upstream_request_duration_seconds",
      "Engine calls (one per try; a packed embedding call counts once), by outcome: ok, http_<status>, timeout, network, engine, unsupported, aborted, internal.",
      ["model", "outcome"],
      CALL_BUCKETS,
    );
    const registers = [registry];
    this.retries = new Counter({ name: "spool_upstream_retries_total", help: "Engine calls tried again after a retryable failure, by reason.", labelNames: ["model", "reason"], registers });
    this.validation = new Histogram({
      name: "spool_batch_validation_duration_seconds",
      help: "Validating a Batch's input, by outcome: in_progress (it runs), failed, cancelling, retry.",
      labelNames: ["outcome"],
      buckets: PHASE_BUCKETS,
      registers,
    });
    this.finalization = new Histogram({
      name: "spool_batch_finalization_duration_seconds",
      help: "Writing a finished Batch's result files, by final status (lost: the Lease was lost).",
      labelNames: ["status"],
      buckets: PHASE_BUCKETS,
      registers,
    });
    this.batchesEnded = new Counter({ name: "spool_batches_ended_total", help: "Batches this process took to a final status.", labelNames: ["dialect", "status"], registers });
    this.batchesArchived = new Counter({ name: "spool_batches_archived_total", help: "Ended Batches this process archived when their retention ran out (retention.batchResults).", registers });
    this.itemsPurged = new Counter({ name: "spool_archived_items_deleted_total", help: "Items (requests and results) of archived Batches this process deleted.", registers });
  }

  itemsClaimed(items: readonly MeasuredItem[], nowMs: number): void {
    for (const item of items) {
      const series = this.of(item.model);
      series.claimed.value += 1;
      if (item.attempt !== 1) continue;
      this.startTimes.with(item.batchId, (startMs) => series.pickupDelay.observe(Math.max(0, nowMs - startMs) / 1000));
    }
  }

  itemFinished(item: MeasuredItem, status: "succeeded" | "failed", result: ItemResult): void {
    const series = this.of(item.model);
    (status === "succeeded" ? series.succeeded : series.failed).value += 1;
    series.inputTokens.value += result.usage.inputTokens;
    series.outputTokens.value += result.usage.outputTokens;
    series.cachedInputTokens.value += result.usage.cachedInputTokens ?? 0;
    this.recent.record(item.model, status, result.finishedAtMs, result.usage);
    if (item.attempt !== 1) return;
    this.startTimes.with(item.batchId, (startMs) => series.timeToResult.observe(Math.max(0, result.finishedAtMs - startMs) / 1000));
  }

  engineCallEnded(model: string, durationMs: number, error: unknown): void {
    const series = this.of(model);
    const outcome = error === null ? "ok" : failureReason(error);
    let calls = series.calls.get(outcome);
    if (calls === undefined) {
      calls = this.callDuration.series(model, outcome);
      series.calls.set(outcome, calls);
    }
    calls.observe(durationMs / 1000);
    if (error instanceof EngineError && error.statusCode === 429) series.rateLimited.value += 1;
  }

  retryScheduled(model: string, error: unknown): void {
    this.retries.inc({ model, reason: failureReason(error) });
  }

  validationEnded(durationMs: number, batch: Batch | null): void {
    this.validation.observe({ outcome: batch?.status ?? "retry" }, durationMs / 1000);
    if (batch?.status === "failed") this.batchesEnded.inc({ dialect: batch.dialect, status: batch.status });
  }

  finalizationEnded(durationMs: number, batch: Batch | null): void {
    this.finalization.observe({ status: batch?.status ?? "lost" }, durationMs / 1000);
    if (batch) this.batchesEnded.inc({ dialect: batch.dialect, status: batch.status });
  }

  retentionApplied(batches: number, items: number): void {
    if (batches > 0) this.batchesArchived.inc(batches);
    if (items > 0) this.itemsPurged.inc(items);
  }

  private of(model: string): ModelSeries {
    let series = this.models.get(model);
    if (series === undefined) {
      series = {
        claimed: this.claimed.series(model),
        succeeded: this.finished.series(model, "succeeded"),
        failed: this.finished.series(model, "failed"),
        inputTokens: this.tokens.series(model, "input"),
        outputTokens: this.tokens.series(model, "output"),
        cachedInputTokens: this.tokens.series(model, "cached_input"),
        rateLimited: this.rateLimited.series(model),
        pickupDelay: this.pickupDelay.series(model),
        timeToResult: this.timeToResult.series(model),
        calls: new Map(),
      };
      this.models.set(model, series);
    }
    return series;
  }
}
