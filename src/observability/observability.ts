/**
 * Everything an operator can measure of one spool process, in one prom-client Registry: the process metrics
 * (CPU, memory, event loop, GC: prom-client's defaults, under their conventional names), this process's
 * counters and histograms (prom-metrics.ts), gauges read from the Store and the Dispatcher at scrape time
 * (store-gauges.ts), storage failures, and webhook deliveries. The composition root builds it and hands
 * its parts to the layers; `/metrics` renders `text()`.
 *
 * In a multi-process PostgreSQL deployment each process is scraped on its own: counters and histograms are
 * that process's, the Store-derived gauges are the whole deployment's.
 */
import { collectDefaultMetrics, Counter, Gauge, Registry } from "prom-client";
import type { Clock } from "../core/clock.ts";
import type { Dispatcher } from "../core/dispatcher.ts";
import type { BlobStore } from "../store/blob-store.ts";
import type { Store } from "../store/store.ts";
import type { WorkEventKind } from "../store/work-events.ts";
import { countingFailures } from "./counted-failures.ts";
import { PromMetrics } from "./prom-metrics.ts";
import type { RecentRate } from "./recent-rates.ts";
import { registerStoreGauges } from "./store-gauges.ts";

/** What one webhook delivery attempt came to. */
export type WebhookAttemptResult = "delivered" | "retry" | "failed";

export class Observability {
  readonly registry = new Registry();
  private readonly storeErrors: Counter<"code">;
  private readonly blobErrors: Counter<"code">;
  private readonly webhookAttempts: Counter<"outcome">;
  private readonly workEvents: Counter<"kind">;
  /** Registered by the first hearing check: an unset gauge would read 0, "not hearing", on SQLite too. */
  private hearing: Gauge | null = null;
  private itemMetrics: PromMetrics | null = null;

  constructor(private readonly clock: Clock) {
    collectDefaultMetrics({ register: this.registry });
    const registers = [this.registry];
    this.storeErrors = new Counter({ name: "spool_store_errors_total", help: "Store operations that failed: unavailable (database down), insufficient_storage (disk full), internal, unexpected.", labelNames: ["code"], registers });
    this.blobErrors = new Counter({ name: "spool_blob_errors_total", help: "BlobStore operations (file contents) that failed, by code.", labelNames: ["code"], registers });
    this.webhookAttempts = new Counter({ name: "spool_webhook_attempts_total", help: "Webhook delivery attempts by outcome: delivered, retry (failed, will be retried), failed (given up).", labelNames: ["outcome"], registers });
    this.workEvents = new Counter({
      name: "spool_work_events_total",
      help: "Work events heard from other processes sharing the database (PostgreSQL LISTEN; decision 0046), by kind: created, claimable, cancelled, and resync (the listening connection came back).",
      labelNames: ["kind"],
      registers,
    });
  }

  /** `store`, counting its failures. */
  countStoreFailures(store: Store): Store {
    return countingFailures(store, (code) => this.storeErrors.inc({ code }));
  }

  countBlobFailures(blobs: BlobStore): BlobStore {
    return countingFailures(blobs, (code) => this.blobErrors.inc({ code }));
  }

  /** The Metrics the Worker, Dispatcher and Sweeper report to (created once; Batch start times read from `store`). */
  metrics(store: Pick<Store, "getBatch">): PromMetrics {
    this.itemMetrics ??= new PromMetrics(this.registry, async (batchId) => (await store.getBatch(batchId))?.inProgressAtMs ?? null);
    return this.itemMetrics;
  }

  /** Registers the gauges read at scrape time; once, when the Store and the Dispatcher exist. */
  watch(deps: { store: Pick<Store, "countBatchesByStatus" | "queueStats">; dispatcher: Pick<Dispatcher, "load" | "backends">; models: readonly string[] }): void {
    registerStoreGauges(this.registry, { ...deps, clock: this.clock });
  }

  webhookAttempted(result: WebhookAttemptResult): void {
    this.webhookAttempts.inc({ outcome: result });
  }

  workEventHeard(kind: WorkEventKind | "resync"): void {
    this.workEvents.inc({ kind });
  }

  workEventsHearing(hears: boolean): void {
    this.hearing ??= new Gauge({
      name: "spool_work_events_hearing",
      help: "1 when this process's listening connection heard the check it sent itself through the pool on (re)connecting, 0 when it did not (PgBouncer in transaction mode: set databaseListenUrl; decision 0048). Absent without a PostgreSQL Store or workers.",
      registers: [this.registry],
    });
    this.hearing.set(hears ? 1 : 0);
  }

  /** A Model's throughput, error rate and prefix-cache hit share over the last minute, in this process. */
  recentRate(model: string): RecentRate {
    return (this.itemMetrics?.recent ?? null)?.rate(model, this.clock.now()) ?? { itemsPerSecond: 0, errorRate: null, finished: 0, failed: 0, cachedInputShare: null };
  }

  get contentType(): string {
    return this.registry.contentType;
  }

  text(): Promise<string> {
    return this.registry.metrics();
  }
}
