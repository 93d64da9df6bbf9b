/**
 * Gauges read at scrape time. From the Store: Batches by status, pending and running Items and the age of
 * the oldest pending Item per Model; these are the same whichever process of a PostgreSQL deployment is
 * scraped. From this process's Dispatcher: requests in flight, waiting, and each Model's current
 * concurrency limit; for a Model with several backends, each backend's limit, Batch allowance, requests in
 * flight and circuit breaker.
 *
 * One Store read serves a whole scrape (the gauges share a snapshot younger than SNAPSHOT_MS). A Store that
 * cannot answer leaves its gauges empty for that scrape instead of failing /metrics: the process metrics
 * and counters are most needed exactly then, and the failure is counted in spool_store_errors_total.
 */
import { Gauge, type Registry } from "prom-client";
import type { Clock } from "../core/clock.ts";
import type { BackendLoad, Dispatcher } from "../core/dispatcher.ts";
import type { BatchStatus } from "../core/types.ts";
import type { ModelQueue } from "../store/store-insights.ts";
import type { Store } from "../store/store.ts";

const SNAPSHOT_MS = 250;

interface Snapshot {
  batches: Record<BatchStatus, number>;
  queues: ModelQueue[];
}

export interface StoreGaugeDeps {
  store: Pick<Store, "countBatchesByStatus" | "queueStats">;
  dispatcher: Pick<Dispatcher, "load" | "backends">;
  /** The configured Models: each gets its series even while idle. */
  models: readonly string[];
  clock: Clock;
}

export function registerStoreGauges(registry: Registry, deps: StoreGaugeDeps): void {
  let cached: { atMs: number; snapshot: Promise<Snapshot | null> } | null = null;
  const snapshot = (): Promise<Snapshot | null> => {
    const nowMs = deps.clock.now();
    if (cached === null || nowMs - cached.atMs > SNAPSHOT_MS) {
      const read = Promise.all([deps.store.countBatchesByStatus(), deps.store.queueStats()]).then(
        ([batches, queues]) => ({ batches, queues }),
        () => null,
      );
      cached = { atMs: nowMs, snapshot: read };
    }
    return cached.snapshot;
  };
  const registers = [registry];
  const queueOf = (queues: readonly ModelQueue[], model: string): ModelQueue => queues.find((queue) => queue.model === model) ?? { model, pending: 0, running: 0, oldestPendingSinceMs: null };
  const models = (queues: readonly ModelQueue[]): string[] => [...new Set([...deps.models, ...queues.map((queue) => queue.model)])];

  new Gauge({
    name: "spool_batches",
    help: "Batches by status, in the Store (all processes).",
    labelNames: ["status"],
    registers,
    async collect() {
      this.reset();
      const read = await snapshot();
      if (read) for (const [status, count] of Object.entries(read.batches)) this.set({ status }, count);
    },
  });
  new Gauge({
    name: "spool_items",
    help: "Items waiting to be claimed (pending) and running, by Model, in the Store (all processes).",
    labelNames: ["model", "status"],
    registers,
    async collect() {
      this.reset();
      const read = await snapshot();
      if (!read) return;
      for (const model of models(read.queues)) {
        const queue = queueOf(read.queues, model);
        this.set({ model, status: "pending" }, queue.pending);
        this.set({ model, status: "running" }, queue.running);
      }
    },
  });
  new Gauge({
    name: "spool_queue_oldest_item_age_seconds",
    help: "How long the oldest pending Item of each Model has been claimable (0 when none is pending).",
    labelNames: ["model"],
    registers,
    async collect() {
      this.reset();
      const read = await snapshot();
      if (!read) return;
      const nowMs = deps.clock.now();
      for (const model of models(read.queues)) {
        const since = queueOf(read.queues, model).oldestPendingSinceMs;
        this.set({ model }, since === null ? 0 : Math.max(0, nowMs - since) / 1000);
      }
    },
  });
  const dispatcherGauge = (name: string, help: string, pick: (load: ReturnType<Dispatcher["load"]>) => number): void => {
    new Gauge({
      name,
      help,
      labelNames: ["model"],
      registers,
      collect() {
        this.reset();
        for (const model of deps.models) this.set({ model }, pick(deps.dispatcher.load(model)));
      },
    });
  };
  dispatcherGauge("spool_requests_in_flight", "Engine calls running now in this process, by Model.", (load) => load.running);
  dispatcherGauge("spool_requests_waiting", "Requests of this process waiting for a slot or sleeping before a retry, by Model.", (load) => load.waiting);
  dispatcherGauge("spool_concurrency_limit", "Engine calls a Model may run at once in this process (its current limit).", (load) => load.concurrency);
  const backendGauge = (name: string, help: string, pick: (backend: BackendLoad) => number): void => {
    new Gauge({
      name,
      help,
      labelNames: ["model", "backend"],
      registers,
      collect() {
        this.reset();
        for (const model of deps.models) {
          const backends = deps.dispatcher.backends(model);
          // A Model with one backend has it all in the per-Model gauges.
          if (backends.length > 1) for (const backend of backends) this.set({ model, backend: backend.name }, pick(backend));
        }
      },
    });
  };
  backendGauge("spool_backend_concurrency_limit", "Engine calls one backend of a Model may run at once in this process (its current limit).", (backend) => backend.concurrency);
  backendGauge("spool_backend_batch_allowance", "Batch requests one backend may run at once now: its limit, less for a dearer backend the deadlines need only partly.", (backend) => backend.allowance);
  backendGauge("spool_backend_in_flight", "Engine calls running now on one backend of a Model, in this process.", (backend) => backend.running);
  backendGauge("spool_backend_breaker_open", "1 while a backend's circuit breaker is open (no requests), 0.5 half-open (one probe), 0 closed.", (backend) => BREAKER_LEVEL[backend.breaker]);
}

const BREAKER_LEVEL: Record<BackendLoad["breaker"], number> = { closed: 0, half_open: 0.5, open: 1 };
