/**
 * The Sweeper: the periodic housekeeping every spool process with workers runs. All of it is safe to run
 * in several processes at once, because each step is a guarded Store operation or happens under a Lease:
 * - Items whose Lease expired (their process died) go back to pending; those that already used up
 *   `maxAttempts` claims are failed instead (an Item that crashes every worker must not loop forever);
 * - Batches past their completion window expire;
 * - Batches in "validating" are validated (validation loop);
 * - Batches whose Items are all finished are finalized;
 * - expired Files and cached results no Model may reuse any more are deleted;
 * - ended Batches past their retention are archived and their Items deleted (result-retention.ts).
 */
import type { Logger } from "pino";
import type { Config } from "../config/config.ts";
import { expiredResult } from "../core/batch-format.ts";
import { isStorageFailure } from "../core/errors.ts";
import { NO_METRICS, type Metrics } from "../core/metrics.ts";
import { isTerminal, type Batch } from "../core/types.ts";
import { configuredCachedModels } from "./cached-models.ts";
import { finalizeBatch } from "./finalize-batch.ts";
import { LeaseLostError } from "./batch-lease.ts";
import { EarlyResults, type EarlyResultsOptions } from "./early-results.ts";
import { ResultRetention } from "./result-retention.ts";
import type { Retention } from "../config/retention.ts";
import { Signal } from "./signal.ts";
import { validateBatch, type ValidationDeps } from "./validate-batch.ts";
import { ZERO_USAGE } from "../core/types.ts";

/** What validation needs (its Lease period comes from `settings`), plus the Sweeper's own settings. */
export interface SweeperDeps extends Omit<ValidationDeps, "leaseMs" | "limits"> {
  settings: Config["worker"];
  limits: Config["limits"];
  owner: string;
  /** Told when a Batch starts running (so Workers claim at once). */
  onBatchStarted?: () => void;
  /** Told how long validations and finalizations took and how they ended. */
  metrics?: Metrics;
  /** Told when a Batch reached a final status here (its webhook deliveries are queued: send them now). */
  onBatchEnded?: () => void;
  /** Least time between two event-woken sweeps, and between two looks for finished Batches woken by results (default MIN_SWEEP_GAP_MS, at most `sweepMs`). */
  minSweepGapMs?: number;
  /**
   * Write large running Batches' result files as their Items finish (early-results.ts). With several
   * processes on one Store, the one writing a Batch early finalizes it (decision 0061). Off by default.
   */
  earlyResults?: boolean | EarlyResultsOptions;
  /** How long ended Batches keep their Items (config `retention`); unset: forever. */
  retention?: Retention;
}

/**
 * Least time between two sweeps woken by events (Batches created or cancelled), and between two looks for
 * finished Batches woken by results: at full speed Workers record results dozens of times a second, and one
 * look per gap finalizes promptly enough. Results that likely end a Batch (the Worker's last Item of a
 * Batch with nothing left to claim, or its last Item at all) are looked at without waiting out the gap:
 * the gap was most of a small Batch's time from its last result to `completed` (decision 0040).
 */
const MIN_SWEEP_GAP_MS = 100;
/**
 * Validations and finalizations run this many at once. A small Batch's validation or finalization spends
 * most of its time waiting (file reads and writes, fsync, an event loop busy with running Items), so one at
 * a time left the process a third idle while 1,000 small Batches queued for validation (bench many-batches).
 * Each holds its own Batch's Lease, so they never step on each other.
 */
const VALIDATIONS_AT_ONCE = 4;
const FINALIZATIONS_AT_ONCE = 4;
/** How often the result cache is purged, and how many entries one statement deletes at most. */
const RESULT_CACHE_PURGE_MS = 60_000;
const RESULT_CACHE_PURGE_LIMIT = 5_000;
/** Batches finalization claims per look. */
const FINALIZE_LIMIT = 20;
/** Past this many Batches with results since the last look, the next look is at every live Batch. */
const MAX_NOTED_BATCHES = 1_000;
/** Longest wait between passes while they keep failing (the database is down): back off, then resume. */
const MAX_BACKOFF_MS = 5_000;

export class Sweeper {
  private running = false;
  private readonly sweepSignal = new Signal();
  /** Results were recorded (a Batch may have finished); `promptPending`: likely the end of a Batch. */
  private readonly resultsSignal = new Signal();
  private resultsPending = false;
  private promptPending = false;
  /**
   * The Batches whose results were recorded since the last look after results: that look checks only these
   * (by key), so its cost follows the results, not the number of live Batches. With 1,000 small Batches
   * running, a look at every live Batch was about 0.5 ms of the Store's time, once per Batch end (its last
   * result prompts a look): quadratic in the Batches. Null: look at all (a notification that did not say
   * whose results, too many to list, or a look that left some ready ones for the next). The periodic sweep
   * always looks at all: it finds Batches ended otherwise (expired, cancelled, by another process).
   */
  private resultBatches: Set<string> | null = new Set();
  private readonly validationSignal = new Signal();
  private loops: Promise<void>[] = [];
  private readonly logger: Logger;
  private lastCachePurgeMs = -Infinity;
  private lastLeaseRecoveryMs = -Infinity;
  /** Result files written while large Batches run; null when not configured. */
  readonly early: EarlyResults | null;
  private readonly retention: ResultRetention;

  constructor(private readonly deps: SweeperDeps) {
    this.logger = deps.logger.child({ component: "sweeper" });
    const early = deps.earlyResults ?? false;
    this.early = early === false ? null : new EarlyResults({ ...deps, logger: this.logger, leaseMs: deps.settings.leaseMs }, early === true ? {} : early);
    this.retention = new ResultRetention({ store: deps.store, logger: this.logger, retention: deps.retention ?? { batchResultsMs: null }, metrics: deps.metrics ?? NO_METRICS });
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    this.loops = [this.sweepLoop(), this.finalizationLoop(), this.validationLoop()];
  }

  /** A Batch was created, cancelled or may have finished: look now rather than at the next period. */
  notify(): void {
    this.sweepSignal.notify();
    this.validationSignal.notify();
  }

  /**
   * A Worker recorded results: a Batch may have finished, so look for finished Batches (only that: expiry,
   * retention and lease recovery keep their period; woken by every flush, the whole sweep was three or four
   * Store calls where one was needed). Results never make a Batch to validate, so the validation loop is left
   * alone: woken after every flush, it asked the Store for work four times each time, 125 claims a second
   * that found nothing on the e2e bench (issue 11).
   */
  notifyResults(prompt = false, batchIds?: ReadonlySet<string>): void {
    if (batchIds !== undefined && this.running) this.early?.noteResults(batchIds);
    if (batchIds === undefined) this.resultBatches = null;
    else if (this.resultBatches !== null) {
      for (const id of batchIds) this.resultBatches.add(id);
      if (this.resultBatches.size > MAX_NOTED_BATCHES) this.resultBatches = null;
    }
    this.resultsPending = true;
    if (prompt) this.promptPending = true;
    this.resultsSignal.notify();
  }

  async stop(): Promise<void> {
    this.running = false;
    this.notify();
    this.resultsSignal.notify();
    await Promise.all(this.loops);
    await this.early?.close();
  }

  /**
   * One full pass (exported for tests and `spool run`). `leases: false` skips the recovery of Items whose
   * Worker stopped: the loop looks for expired Leases once per period, not on every wake by results.
   */
  async sweep({ leases = true }: { leases?: boolean } = {}): Promise<void> {
    const now = this.deps.clock.now();
    if (leases) await this.recoverLeases(now);
    const expired = await this.deps.store.expireBatches(now, expiredResult(now));
    if (expired.length > 0) this.logger.info({ batches: expired }, "batches passed their completion window");
    await this.finalizeReady();
    await this.deleteExpiredFiles(now);
    await this.purgeResultCache(now);
    await this.retention.pass(now);
  }

  /**
   * Items of stopped Workers: failed once out of Attempts, else back to the queue. A Lease lasts leaseMs
   * (30 s by default) past its last renewal, so looking for expired ones more than once per period finds
   * nothing new; it cost two scans of the running Items per wake, dozens of wakes a second at full speed.
   */
  private async recoverLeases(now: number): Promise<void> {
    const { store, settings } = this.deps;
    this.lastLeaseRecoveryMs = now;
    const exhausted = await store.failExhaustedItems(settings.maxAttempts, now, {
      statusCode: null,
      body: null,
      errorCode: "item_crashed",
      errorMessage: `The request was claimed ${settings.maxAttempts} times and its worker stopped each time; it was not retried again.`,
      requestId: null,
      usage: ZERO_USAGE,
      finishedAtMs: now,
    });
    const reclaimed = await store.reclaimExpiredItems(now);
    if (reclaimed > 0 || exhausted > 0) this.logger.info({ reclaimed, exhausted }, "returned items of stopped workers");
  }

  /**
   * Cached results no Model may reuse any more (too old, or the Model's cache was turned off) go, a bounded
   * number per pass and at most once per RESULT_CACHE_PURGE_MS: a pass runs up to ten times a second.
   */
  private async purgeResultCache(nowMs: number): Promise<void> {
    if (nowMs - this.lastCachePurgeMs < RESULT_CACHE_PURGE_MS) return;
    this.lastCachePurgeMs = nowMs;
    const purged = await this.deps.store.purgeResultCache(configuredCachedModels(this.deps.catalog, nowMs), RESULT_CACHE_PURGE_LIMIT);
    if (purged > 0) this.logger.info({ results: purged }, "purged cached results too old to reuse");
    // A full pass may have left more: come back at the next pass instead of waiting the whole period.
    if (purged === RESULT_CACHE_PURGE_LIMIT) this.lastCachePurgeMs = -Infinity;
  }

  /**
   * Retention: Files past their expiry go, record first and then contents, so a listed File always has its
   * bytes (a crash in between leaves at worst unreferenced bytes, never a File that 404s on download).
   */
  private async deleteExpiredFiles(nowMs: number): Promise<void> {
    const ids = await this.deps.store.deleteExpiredFiles(nowMs, 100);
    for (const id of ids) await this.deps.blobs.delete(id);
    if (ids.length > 0) this.logger.info({ files: ids.length }, "deleted expired files");
  }

  /** Finalizes the Batches ready now (among `batchIds` only, if given); returns how many were found. */
  private async finalizeReady(batchIds?: readonly string[]): Promise<number> {
    const { store, clock, settings, owner } = this.deps;
    const ready = await store.findBatchesToFinalize(clock.now(), FINALIZE_LIMIT, batchIds, owner);
    let next = 0;
    await inLanes(FINALIZATIONS_AT_ONCE, async () => {
      while (next < ready.length) {
        const { batchId, status } = ready[next++]!;
        // Taken before the claim: once the Batch is finalizing, EarlyResults drops what it still holds (the
        // finalization might be another process's).
        const early = (await this.early?.take(batchId)) ?? null;
        const batch = await store.claimFinalization(batchId, { owner, nowMs: clock.now(), leaseMs: settings.leaseMs });
        if (!batch) {
          // Another process took it (or it was not ready after all): its finalization writes the files.
          if (early !== null) {
            await early.abort().catch(() => undefined);
            await store.releaseResultsWriter(batchId, owner).catch(() => undefined);
          }
          continue;
        }
        const startedMs = clock.now();
        try {
          const finished = await finalizeBatch({ ...this.deps, leaseMs: settings.leaseMs }, batch, status, owner, early);
          (this.deps.metrics ?? NO_METRICS).finalizationEnded(clock.now() - startedMs, finished);
          if (finished) this.logTransition(finished, "finalizing");
        } catch (error) {
          if (!(error instanceof LeaseLostError)) throw error;
          this.logger.warn({ batchId }, error.message);
        }
      }
    });
    return ready.length;
  }

  /**
   * Validates claimable Batches, several at once while the Sweeper runs, until none is left; one per call
   * when driven by hand (tests, `spool run`). Returns how many it validated.
   */
  async validatePending(): Promise<number> {
    const { store, clock, settings, owner } = this.deps;
    let count = 0;
    let drained = false;
    await inLanes(this.running ? VALIDATIONS_AT_ONCE : 1, async () => {
      while (!drained && (this.running || count === 0)) {
        const batch = await store.claimValidation({ owner, nowMs: clock.now(), leaseMs: settings.leaseMs });
        if (!batch) {
          drained = true;
          return;
        }
        count += 1;
        const startedMs = clock.now();
        const result = await validateBatch({ ...this.deps, leaseMs: settings.leaseMs, dispatchOrder: settings.dispatchOrder, cancelLookMs: settings.sweepMs }, batch, owner);
        (this.deps.metrics ?? NO_METRICS).validationEnded(clock.now() - startedMs, result);
        if (result && result.status !== batch.status) this.logTransition(result, batch.status);
        if (result?.status === "in_progress") this.deps.onBatchStarted?.();
        if (result && result.status !== "in_progress") this.sweepSignal.notify();
      }
    });
    return count;
  }

  private async sweepLoop(): Promise<void> {
    const minimumGapMs = this.minimumGapMs();
    let failures = 0;
    while (this.running) {
      const started = Date.now();
      try {
        await this.sweep({ leases: this.deps.clock.now() - this.lastLeaseRecoveryMs >= this.deps.settings.sweepMs });
        failures = 0;
      } catch (error) {
        failures += 1;
        this.logFailure(error, "sweep failed");
      }
      await this.sweepSignal.wait(backoffMs(this.deps.settings.sweepMs, failures));
      const gap = minimumGapMs - (Date.now() - started);
      if (gap > 0 && this.running) await new Promise((resolve) => setTimeout(resolve, gap));
    }
  }

  /** Looks for finished Batches when results were recorded: at most once per gap, at once when prompted. */
  private async finalizationLoop(): Promise<void> {
    const minimumGapMs = this.minimumGapMs();
    let lastLookMs = -Infinity;
    while (this.running) {
      if (!this.resultsPending) {
        await this.resultsSignal.wait(this.deps.settings.sweepMs);
        continue;
      }
      const gap = minimumGapMs - (Date.now() - lastLookMs);
      if (gap > 0 && !this.promptPending) {
        await this.resultsSignal.wait(gap);
        continue;
      }
      this.resultsPending = false;
      this.promptPending = false;
      lastLookMs = Date.now();
      const among = this.resultBatches;
      this.resultBatches = new Set();
      try {
        const found = await this.finalizeReady(among === null ? undefined : [...among]);
        if (found === FINALIZE_LIMIT) {
          // More may be ready than one look takes: the next look is at all of them, without new results.
          this.resultBatches = null;
          this.resultsPending = true;
        }
      } catch (error) {
        this.resultBatches = null;
        // No retry loop of its own: the periodic sweep finalizes too, and backs off while the Store is away.
        this.logFailure(error, "finalization failed");
      }
    }
  }

  private minimumGapMs(): number {
    return Math.min(this.deps.minSweepGapMs ?? MIN_SWEEP_GAP_MS, this.deps.settings.sweepMs);
  }

  private async validationLoop(): Promise<void> {
    let failures = 0;
    while (this.running) {
      try {
        await this.validatePending();
        failures = 0;
      } catch (error) {
        failures += 1;
        this.logFailure(error, "validation failed");
      }
      await this.validationSignal.wait(backoffMs(this.deps.settings.sweepMs, failures));
    }
  }

  /** One structured line per Batch transition the Sweeper makes (the Batch service logs the clients'). */
  private logTransition(batch: Batch, from: Batch["status"]): void {
    const { total, succeeded, failed, cancelled, expired } = batch.counts;
    this.logger.info({ batchId: batch.id, dialect: batch.dialect, from, status: batch.status, total, succeeded, failed, cancelled, expired }, "batch status changed");
    if (isTerminal(batch.status)) this.deps.onBatchEnded?.();
  }

  /** A storage failure was logged once by the Store; repeating its stack every period would bury the log. */
  private logFailure(error: unknown, message: string): void {
    if (isStorageFailure(error)) this.logger.debug({ err: error }, message);
    else this.logger.error({ err: error }, message);
  }
}

/**
 * Runs `lane` `count` times at once and waits for all of them, even when one fails (a lane still running
 * after its caller moved on would overlap the next pass); then throws the first failure.
 */
async function inLanes(count: number, lane: () => Promise<void>): Promise<void> {
  const outcomes = await Promise.allSettled(Array.from({ length: count }, lane));
  const failure = outcomes.find((outcome): outcome is PromiseRejectedResult => outcome.status === "rejected");
  if (failure) throw failure.reason;
}

/** The period, doubled per failure in a row up to MAX_BACKOFF_MS (never shorter than the period). */
function backoffMs(periodMs: number, failures: number): number {
  return Math.max(periodMs, Math.min(MAX_BACKOFF_MS, periodMs * 2 ** failures));
}
