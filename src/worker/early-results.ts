/**
 * Result files written while a large Batch runs (decision 0054). Finalization wrote a Batch's whole output
 * after its last Item: 0.3-0.6 s for 100k Items and 7.3 s for 1M on SQLite, during which nothing else ran.
 * Here the Items finished so far, from the first on in input order, are written as results are recorded,
 * and finalization takes the files over and writes only the rest.
 *
 * Only what cannot change is written early: an Item's result is final once recorded while its Batch runs
 * (only `retryFailed`, on an ended Batch, replaces results), and a line is written only when every Item
 * before it has one, so the files are what finalization alone would have written, byte for byte.
 *
 * Nothing here is durable: the files stay part files until finalization commits them, and a process that
 * dies leaves part files the BlobStore removes as stale; finalization then writes everything, as before.
 * The process that finalizes a Batch uses what it wrote early: its Sweeper takes the files before it
 * claims the finalization (take). With several processes on one Store, one writes a Batch early: it holds
 * the Batch's results writer Lease (decision 0061), renewed as it looks, and while that lasts no other
 * process finalizes the Batch from in_progress, so the files written are the ones used whoever records
 * the last result (this process's periodic sweep finds it). A process that cannot take the Lease leaves
 * the Batch to its holder. A Batch found finalizing or ended elsewhere (its Lease had expired, or it was
 * cancelled) has its files dropped at the next look, and files are looked at again every RECHECK_LOOKS ×
 * everyMs while any are held, results or not, so none is held for a Batch long gone.
 */
import type { Logger } from "pino";
import type { BatchFormats } from "../core/batch-format.ts";
import type { BlobStore } from "../store/blob-store.ts";
import type { Clock } from "../core/clock.ts";
import type { Store } from "../store/store.ts";
import { ResultFiles } from "./finalize-batch.ts";

export interface EarlyResultsOptions {
  /** Batches with fewer Items are left to finalization (a small Batch's files take it milliseconds). */
  minItems?: number;
  /** Batches written early at once (two files open each). */
  maxBatches?: number;
  /** Least time between two looks, after results were recorded. */
  everyMs?: number;
  /** A Batch is read again only once this many more of its Items have finished. */
  minNewItems?: number;
  /**
   * While this says so, nothing is written early (finalization then writes it): with sync requests about,
   * the pages read and formatted beside them raised their p99 by about 2 ms in the `sync` bench.
   */
  paused?: () => boolean;
}

export const EARLY_RESULTS_DEFAULTS: Required<EarlyResultsOptions> = { minItems: 20_000, maxBatches: 2, everyMs: 500, minNewItems: 10_000, paused: () => false };
/** Pages read per look and Batch: a look never holds up the next one for long. */
const MAX_PAGES_PER_LOOK = 20;
/** Batches remembered as not worth writing early (small, or not running); forgotten all at once past this. */
const MAX_PASSED_OVER = 10_000;
/** While files are held, they are looked at again after this many `everyMs` with no results noted. */
const RECHECK_LOOKS = 10;

/** What EarlyResults works with: the Store and BlobStore, and whose Lease it takes for how long. */
export interface EarlyResultsDeps {
  store: Store;
  blobs: BlobStore;
  formats: BatchFormats;
  logger: Logger;
  clock: Clock;
  /** This process's Lease owner (the Sweeper's). */
  owner: string;
  /** How long the results writer Lease lasts unrenewed (the worker's `leaseMs`). */
  leaseMs: number;
}

interface Writing {
  files: ResultFiles;
  /** When this process last took or renewed the Batch's results writer Lease; null before it has. */
  leaseRenewedMs: number | null;
  /** The write under way (or the last one); take() waits for it. */
  busy: Promise<void>;
  /** Finished Items the last time this Batch was read. */
  finishedAtLastRead: number;
  failed: boolean;
}

export class EarlyResults {
  private readonly writing = new Map<string, Writing>();
  private readonly passedOver = new Set<string>();
  private readonly noted = new Set<string>();
  private readonly options: Required<EarlyResultsOptions>;
  private timer: NodeJS.Timeout | null = null;
  /** The slow look at the files held (RECHECK_LOOKS), when no results arm the regular one. */
  private recheck: NodeJS.Timeout | null = null;
  private looking: Promise<void> = Promise.resolve();
  private closed = false;
  /** Lines written early, over all Batches (tests, logs). */
  linesWritten = 0;

  /** Batches whose early files are held now (tests). */
  get heldBatches(): number {
    return this.writing.size;
  }

  constructor(
    private readonly deps: EarlyResultsDeps,
    options: EarlyResultsOptions = {},
  ) {
    this.options = { ...EARLY_RESULTS_DEFAULTS, ...options };
  }

  /** Results of these Batches were recorded: look at them within `everyMs`. */
  noteResults(batchIds: Iterable<string>): void {
    if (this.closed) return;
    for (const id of batchIds) if (!this.passedOver.has(id)) this.noted.add(id);
    if (this.noted.size === 0 || this.timer !== null) return;
    this.timer = setTimeout(() => {
      this.timer = null;
      void this.lookNow();
    }, this.options.everyMs);
    this.timer.unref();
  }

  /** Looks at the files held again before long, even if no results come (see the top of this file). */
  private scheduleRecheck(): void {
    if (this.closed || this.recheck !== null || this.writing.size === 0) return;
    this.recheck = setTimeout(() => {
      this.recheck = null;
      void this.lookNow();
    }, this.options.everyMs * RECHECK_LOOKS);
    this.recheck.unref();
  }

  /** Looks at the noted Batches now, writing what they have finished (tests call it directly). */
  lookNow(): Promise<void> {
    const next = this.looking.then(() => this.look());
    this.looking = next.catch(() => undefined);
    return next;
  }

  /**
   * The files written early for `batchId`, for its finalization, or null. Waits for a write under way; the
   * files are then the caller's: taken before the finalization is claimed (a look that finds the Batch
   * finalizing drops what is still held, as another process's finalization), and aborted if the claim fails.
   */
  async take(batchId: string): Promise<ResultFiles | null> {
    const entry = this.writing.get(batchId);
    if (entry === undefined) return null;
    this.writing.delete(batchId);
    await entry.busy;
    return entry.failed ? null : entry.files;
  }

  /** Stops looking and discards every file written early (the process is stopping). */
  async close(): Promise<void> {
    this.closed = true;
    if (this.timer !== null) clearTimeout(this.timer);
    if (this.recheck !== null) clearTimeout(this.recheck);
    await this.looking;
    const entries = [...this.writing];
    this.writing.clear();
    await Promise.all(entries.map(async ([id, entry]) => {
      await entry.busy;
      await entry.files.abort().catch(() => undefined);
      // Another process may finalize it now, without waiting out the Lease.
      if (entry.leaseRenewedMs !== null) await this.deps.store.releaseResultsWriter(id, this.deps.owner).catch(() => undefined);
    }));
  }

  private async look(): Promise<void> {
    if (this.options.paused()) {
      // Looked at again once results come in after the pause, and the files held at the next recheck.
      this.scheduleRecheck();
      return;
    }
    // The Batches with results, and every Batch whose files are held (it may have ended elsewhere).
    const ids = [...new Set([...this.noted, ...this.writing.keys()])];
    this.noted.clear();
    await Promise.all(ids.map(async (id) => {
      let entry = this.writing.get(id);
      if (entry === undefined) {
        if (this.writing.size >= this.options.maxBatches || this.closed) return;
        entry = { files: new ResultFiles(this.deps.blobs, id), leaseRenewedMs: null, busy: Promise.resolve(), finishedAtLastRead: 0, failed: false };
        this.writing.set(id, entry);
      }
      const current = entry;
      current.busy = current.busy.then(() => this.advance(id, current));
      await current.busy;
    }));
    this.scheduleRecheck();
  }

  /** Writes what `id` has finished since the last look, if enough has; gives up on it on any failure. */
  private async advance(id: string, entry: Writing): Promise<void> {
    if (entry.failed || this.writing.get(id) !== entry) return;
    try {
      const batch = await this.deps.store.getBatch(id);
      // Not (or no longer) a running Batch worth it: finalization, if any, writes its files itself. One
      // finalizing already is another process's: this process's Sweeper takes the files before it claims.
      if (batch === null || batch.status !== "in_progress" || batch.counts.total < this.options.minItems || !(await this.holdLease(id, entry))) {
        this.forget(id, entry);
        return;
      }
      const { succeeded, failed, cancelled, expired } = batch.counts;
      const finished = succeeded + failed + cancelled + expired;
      if (finished - entry.finishedAtLastRead < this.options.minNewItems) return;
      entry.finishedAtLastRead = finished;
      const before = entry.files.lines;
      await entry.files.write(this.deps.store, this.deps.formats[batch.dialect], batch, { untilUnfinished: true, maxPages: MAX_PAGES_PER_LOOK });
      this.linesWritten += entry.files.lines - before;
    } catch (error) {
      // Finalization writes everything itself, as it does for any Batch not written early.
      this.deps.logger.warn({ err: error, batchId: id }, "writing results early failed; the batch's finalization writes them all");
      this.forget(id, entry);
    }
  }

  /**
   * Takes the Batch's results writer Lease, or renews it once a third of it has passed: false when another
   * process holds it (that process writes the Batch early and finalizes it) or the Batch stopped running.
   */
  private async holdLease(id: string, entry: Writing): Promise<boolean> {
    const { store, clock, owner, leaseMs } = this.deps;
    const nowMs = clock.now();
    if (entry.leaseRenewedMs !== null && nowMs - entry.leaseRenewedMs < leaseMs / 3) return true;
    if (!(await store.takeResultsWriter(id, { owner, nowMs, leaseMs }))) return false;
    entry.leaseRenewedMs = nowMs;
    return true;
  }

  private forget(id: string, entry: Writing): void {
    entry.failed = true;
    if (this.writing.get(id) === entry) this.writing.delete(id);
    if (this.passedOver.size >= MAX_PASSED_OVER) this.passedOver.clear();
    this.passedOver.add(id);
    void entry.files.abort().catch(() => undefined);
    if (entry.leaseRenewedMs !== null) void this.deps.store.releaseResultsWriter(id, this.deps.owner).catch(() => undefined);
  }
}
