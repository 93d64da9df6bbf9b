/**
 * Buffers Item completions and records them in batches: one Store transaction per flush instead of one
 * per Item is what lets a single SQLite file keep up with tens of thousands of requests per second.
 *
 * Crash window: completions buffered but not yet flushed are lost with the process; their Items are still
 * leased to the dead owner, return to pending when the Lease expires, and run again. The result file still
 * gets exactly one line per Item, because the Store fences completions by owner and Attempt.
 */
import type { Logger } from "pino";
import type { Clock } from "../core/clock.ts";
import { isStorageFailure } from "../core/errors.ts";
import type { ItemCompletion, Store } from "../store/store.ts";

export interface ResultWriterOptions {
  maxBatch?: number;
  maxDelayMs?: number;
  /**
   * Called after each successful flush (e.g. to wake the Sweeper: a Batch may be done); `prompt` when a
   * `flush(true)` asked for the results it wrote to be looked at without delay; `batchIds`: whose they were.
   */
  onFlushed?: (applied: number, prompt: boolean, batchIds: ReadonlySet<string>) => void;
}

export class ResultWriter {
  private buffer: ItemCompletion[] = [];
  /** A flush(true) came for what is in `buffer`. */
  private bufferPrompt = false;
  private writing: ItemCompletion[] = [];
  private timer: NodeJS.Timeout | null = null;
  private flushing: Promise<void> = Promise.resolve();
  /** Failed flushes in a row: retries back off (250 ms, doubling, at most 5 s) while the database is away. */
  private failures = 0;
  private readonly maxBatch: number;
  private readonly maxDelayMs: number;

  constructor(
    private readonly store: Store,
    private readonly clock: Clock,
    private readonly logger: Logger,
    private readonly options: ResultWriterOptions = {},
  ) {
    this.maxBatch = options.maxBatch ?? 500;
    this.maxDelayMs = options.maxDelayMs ?? 20;
  }

  add(completion: ItemCompletion): void {
    this.buffer.push(completion);
    if (this.buffer.length >= this.maxBatch) void this.flush();
    else this.timer ??= setTimeout(() => void this.flush(), this.maxDelayMs);
  }

  get pending(): number {
    return this.buffer.length;
  }

  /** The Items whose results are buffered or being written: their Leases must be kept until recorded. */
  held(): { batchId: string; index: number }[] {
    return [...this.writing, ...this.buffer];
  }

  /**
   * Writes everything buffered so far; resolves when it is durable. Flushes run one after another. `prompt`
   * marks the write's results for onFlushed as wanting a look now.
   */
  flush(prompt = false): Promise<void> {
    if (prompt) this.bufferPrompt = true;
    if (this.timer) {
      clearTimeout(this.timer);
      this.timer = null;
    }
    const next = this.flushing.then(() => this.writeBuffered());
    this.flushing = next.catch(() => undefined);
    return next;
  }

  private async writeBuffered(): Promise<void> {
    if (this.buffer.length === 0) return;
    const batch = this.buffer;
    const prompt = this.bufferPrompt;
    this.buffer = [];
    this.bufferPrompt = false;
    this.writing = batch;
    try {
      const applied = await this.store.completeItems(batch, this.clock.now());
      this.failures = 0;
      if (applied < batch.length) {
        this.logger.debug({ stale: batch.length - applied }, "ignored completions whose lease had passed to another worker");
      }
      this.options.onFlushed?.(applied, prompt, batchIdsOf(batch));
    } catch (error) {
      // Keep the results and try again shortly (a busy database, a dropped connection). An outage or a
      // full disk was logged once by the Store: no stack per retry.
      if (isStorageFailure(error)) this.logger.debug({ err: error, count: batch.length }, "recording results failed; retrying");
      else this.logger.warn({ err: error, count: batch.length }, "recording results failed; retrying");
      this.buffer = batch.concat(this.buffer);
      this.bufferPrompt ||= prompt;
      this.failures += 1;
      this.timer ??= setTimeout(() => void this.flush(), Math.min(5_000, 250 * 2 ** (this.failures - 1)));
    } finally {
      this.writing = [];
    }
  }
}

/** The distinct Batches of `completions` (mostly long runs of one Batch: one Set insert per run). */
function batchIdsOf(completions: readonly ItemCompletion[]): Set<string> {
  const ids = new Set<string>();
  let last: string | null = null;
  for (const completion of completions) {
    if (completion.batchId === last) continue;
    last = completion.batchId;
    ids.add(last);
  }
  return ids;
}
