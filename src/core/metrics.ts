/**
 * The Metrics contract: what the Worker, the Dispatcher and the Sweeper report as they work, for operators
 * (Prometheus `/metrics`, the dashboard's models page). Implemented in src/observability/ with prom-client;
 * the composition root passes it in, and NO_METRICS (the default) does nothing.
 *
 * These calls sit on the hot path (one per Engine call and per Item result): an implementation only bumps
 * in-memory counters and histograms. It never queries the Store per Item and never blocks or throws.
 * Gauges that must be right whichever process is scraped (queue depth, Batches by status) are read from
 * the Store at scrape time instead, not reported here.
 */
import type { Batch, ItemResult } from "./types.ts";

/** A claimed or finished Item, as far as metrics care. */
export interface MeasuredItem {
  batchId: string;
  model: string;
  /** The Attempt that claimed it; pickup delay and time to result are measured on first Attempts only. */
  attempt: number;
}

export interface Metrics {
  /** Items this process claimed (their Attempt counted), at `nowMs`. */
  itemsClaimed(items: readonly MeasuredItem[], nowMs: number): void;
  /** An Item's result was handed to the ResultWriter. */
  itemFinished(item: MeasuredItem, status: "succeeded" | "failed", result: ItemResult): void;
  /** One Engine call ended (a Pack counts once), after `durationMs`; `error` is what it failed with, or null. */
  engineCallEnded(model: string, durationMs: number, error: unknown): void;
  /** A failed Engine call will be tried again; `error` says why (an EngineError). */
  retryScheduled(model: string, error: unknown): void;
  /** Validation of a Batch ended: `batch` as it ended (in_progress, failed), or null when it will be retried. */
  validationEnded(durationMs: number, batch: Batch | null): void;
  /** Finalization of a Batch ended with `batch` in its final status (null: the Lease was lost). */
  finalizationEnded(durationMs: number, batch: Batch | null): void;
  /** A retention step archived `batches` ended Batches and deleted `items` Items of archived ones. */
  retentionApplied(batches: number, items: number): void;
}

export const NO_METRICS: Metrics = {
  itemsClaimed: () => undefined,
  itemFinished: () => undefined,
  engineCallEnded: () => undefined,
  retryScheduled: () => undefined,
  validationEnded: () => undefined,
  finalizationEnded: () => undefined,
  retentionApplied: () => undefined,
};
