/**
 * The Metrics contract (src/core/metrics.ts) on prom-client: counters and histograms of this process, bumped
 * in memory as the Worker, the Dispatcher and the Sweeper report. Conventional Prometheus names: a `spool_`
 * prefix, base units (seconds, tokens), `_total` on counters. The gauges read from the Store at scrape time
 * are in store-gauges.ts.
 *
 * Labels are bounded: `model` is a configured Model, `status`, `outcome` and `reason` come from small
 * closed sets (an upstream's HTTP status is one label value per status code, which upstreams keep few).
 */
import { Counter, Histogram, type Registry } from "prom-client";
import { EngineError } from "../core/engine.ts";
import type { MeasuredItem, Metrics } from "../core/metrics.ts";
import type { Batch, ItemResult } from "../core/types.ts";
import { BatchStartTimes, type LoadStartTime } from "./batch-start-times.ts";
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

export class PromMetrics implements Metrics {
  readonly recent = new RecentRates();
  private readonly startTimes: BatchStartTimes;
  private readonly claimed: Counter<"model">;
  private readonly finished: Counter<"model" | "status">;
  private readonly tokens: Counter<"model" | "type">;
  private readonly pickupDelay: Histogram<"model">;
  private readonly timeToResult: Histogram<"model">;
  private readonly callDuration: Histogram<"model" | "outcome">;
  private readonly rateLimited: Counter<"model">;
  private readonly retries: Counter<"model" | "reason">;
  private readonly validation: Histogram<"outcome">;
  private readonly finalization: Histogram<"status">;
  private readonly batchesEnded: Counter<"dialect" | "status">;

  constructor(registry: Registry, loadStartTime: LoadStartTime) {
    this.startTimes = new BatchStartTimes(loadStartTime);
    const registers = [registry];
    this.claimed = new Counter({ name: "spool_items_claimed_total", help: "Items claimed by this process's Workers (each Attempt counts).", labelNames: ["model"], registers });
    this.finished = new Counter({ name: "spool_items_finished_total", help: "Item results recorded by this process's Workers, by outcome.", labelNames: ["model", "status"], registers });
    this.tokens = new Counter({ name: "spool_tokens_total", help: "Tokens of recorded Item results (type: input or output).", labelNames: ["model", "type"], registers });
    this.pickupDelay = new Histogram({
      name: "spool_item_pickup_delay_seconds",
      help: "From an Item becoming claimable (its Batch going in_progress) to its first claim.",
      labelNames: ["model"],
      buckets: WAIT_BUCKETS,
      registers,
    });
    this.timeToResult = new Histogram({
      name: "spool_item_time_to_result_seconds",
      help: "From an Item becoming claimable to its result, for Items finished on their first Attempt.",
      labelNames: ["model"],
      buckets: WAIT_BUCKETS,
      registers,
    });
    this.callDuration = new Histogram({
      name: "spool_upstream_request_duration_seconds",
      help: "Engine calls (one per try; a packed embedding call counts once), by outcome: ok, http_<status>, timeout, network, engine, unsupported, aborted, internal.",
      labelNames: ["model", "outcome"],
      buckets: CALL_BUCKETS,
      registers,
    });
    this.rateLimited = new Counter({ name: "spool_upstream_rate_limited_total", help: "Engine calls answered 429 (rate limited).", labelNames: ["model"], registers });
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
  }

  itemsClaimed(items: readonly MeasuredItem[], nowMs: number): void {
    for (const item of items) {
      this.claimed.inc({ model: item.model });
      if (item.attempt !== 1) continue;
      this.startTimes.with(item.batchId, (startMs) => this.pickupDelay.observe({ model: item.model }, Math.max(0, nowMs - startMs) / 1000));
    }
  }

  itemFinished(item: MeasuredItem, status: "succeeded" | "failed", result: ItemResult): void {
    this.finished.inc({ model: item.model, status });
    if (result.usage.inputTokens > 0) this.tokens.inc({ model: item.model, type: "input" }, result.usage.inputTokens);
    if (result.usage.outputTokens > 0) this.tokens.inc({ model: item.model, type: "output" }, result.usage.outputTokens);
    this.recent.record(item.model, status, result.finishedAtMs);
    if (item.attempt !== 1) return;
    this.startTimes.with(item.batchId, (startMs) => this.timeToResult.observe({ model: item.model }, Math.max(0, result.finishedAtMs - startMs) / 1000));
  }

  engineCallEnded(model: string, durationMs: number, error: unknown): void {
    const outcome = error === null ? "ok" : failureReason(error);
    this.callDuration.observe({ model, outcome }, durationMs / 1000);
    if (error instanceof EngineError && error.statusCode === 429) this.rateLimited.inc({ model });
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
}
