/**
 * Finalization: streams a finished Batch's Items in input order into its result files, registers them as
 * generated Files, and moves the Batch to its final status. Runs under the Batch's finalization Lease.
 *
 * Result file ids are derived from the Batch id, so a finalization interrupted after writing a file and
 * redone by another Worker replaces that file instead of leaving an orphan beside it.
 */
import { setImmediate as nextTurn } from "node:timers/promises";
import type { Logger } from "pino";
import type { BatchFormat, BatchFormats } from "../core/batch-format.ts";
import type { Clock } from "../core/clock.ts";
import type { Batch } from "../core/types.ts";
import type { BlobStore, BlobWriter } from "../store/blob-store.ts";
import type { FinalStatus, NewFile, Store } from "../store/store.ts";
import { BatchLease } from "./batch-lease.ts";

export interface FinalizeDeps {
  store: Store;
  blobs: BlobStore;
  clock: Clock;
  logger: Logger;
  formats: BatchFormats;
  leaseMs: number;
}

const PAGE = 1_000;
/** Lines written early between two turns of the event loop (a power of two). */
const LINES_PER_TURN = 64;
const FLUSH_BYTES = 256 * 1024;

export function resultFileIds(batchId: string): { output: string; error: string } {
  const token = batchId.replace(/^batch_/, "").toLowerCase().replace(/[^a-z0-9]/g, "");
  return { output: `file-${token}-output`, error: `file-${token}-errors` };
}

/**
 * A Batch's result files as they are written, in input order: the lines of the Items up to `afterIndex`.
 * Finalization writes them all; while a large Batch runs, EarlyResults (early-results.ts) writes the Items
 * finished so far and finalization takes the files over and writes the rest.
 */
export class ResultFiles {
  /** The last Item index written (-1: none). */
  afterIndex = -1;
  readonly output: BufferedWriter;
  readonly errors: BufferedWriter;

  constructor(blobs: BlobStore, batchId: string) {
    const ids = resultFileIds(batchId);
    this.output = new BufferedWriter(() => blobs.createWriter(ids.output));
    this.errors = new BufferedWriter(() => blobs.createWriter(ids.error));
  }

  /** Lines written so far. */
  get lines(): number {
    return this.output.lines + this.errors.lines;
  }

  /**
   * Writes the Items after `afterIndex`, in index order, a page at a time. `untilUnfinished`: stops before
   * the first Item without a result (its Batch is still running), after at most `maxPages` pages; otherwise
   * it writes to the end, and an Item without a result (which a finished Batch cannot have) is skipped rather
   * than written as half a line. `betweenPages` runs after each page but the last (finalization keeps its Lease).
   */
  async write(store: Store, format: BatchFormat, batch: Batch, options: { untilUnfinished: boolean; maxPages?: number; betweenPages?: () => Promise<void> }): Promise<void> {
    let pages = 0;
    let reading = store.readItems(batch.id, { afterIndex: this.afterIndex, limit: PAGE });
    for (;;) {
      const page = await reading;
      pages += 1;
      const more = page.nextAfterIndex !== null && pages < (options.maxPages ?? Infinity);
      // Read the next page while this one is written: the Store (its own thread on SQLite, a round trip on
      // PostgreSQL) and the writing take turns otherwise, each idle half the time. Not past a page that ends
      // unfinished: the write stops in it.
      if (more && !(options.untilUnfinished && page.items[page.items.length - 1]?.result === null)) {
        reading = store.readItems(batch.id, { afterIndex: page.nextAfterIndex as number, limit: PAGE });
        // Handled here too, so that a failure while this page is written is not left unhandled.
        reading.catch(() => undefined);
      }
      for (const item of page.items) {
        if (item.result === null) {
          if (options.untilUnfinished) return;
          continue;
        }
        const { target, line } = format.resultLine(batch, item);
        await (target === "output" ? this.output : this.errors).writeLine(line);
        this.afterIndex = item.index;
        // Written beside running Items: a page formatted in one go held the event loop for milliseconds, and
        // sync requests waited behind it. Finalization, which ends the Batch, writes without stopping.
        if (options.untilUnfinished && (item.index & (LINES_PER_TURN - 1)) === 0) await nextTurn();
      }
      if (!more) return;
      await options.betweenPages?.();
    }
  }

  /** Discards both files (nothing to do for one never opened). */
  async abort(): Promise<void> {
    await this.output.abort();
    await this.errors.abort();
  }
}

/** `early`: result files EarlyResults wrote while the Batch ran; finalization writes the rest into them. */
export async function finalizeBatch(deps: FinalizeDeps, batch: Batch, status: FinalStatus, owner: string, early: ResultFiles | null = null): Promise<Batch | null> {
  const { store, blobs, clock } = deps;
  const format = deps.formats[batch.dialect];
  const ids = resultFileIds(batch.id);
  const names = format.resultFileNames(batch);
  const files = early ?? new ResultFiles(blobs, batch.id);
  const writtenEarly = early === null ? null : early.afterIndex + 1;
  try {
    const lease = new BatchLease({ store, clock, batchId: batch.id, owner, leaseMs: deps.leaseMs, phase: "finalization" });
    await files.write(store, format, batch, { untilUnfinished: false, betweenPages: () => lease.keep() });
    const nowMs = clock.now();
    const retentionMs = format.resultRetentionMs(batch);
    const registered: NewFile[] = [];
    const register = async (writer: BufferedWriter, id: string, filename: string): Promise<string | null> => {
      if (writer.lines === 0) {
        await writer.abort();
        return null;
      }
      const info = await writer.commit();
      registered.push({
        id,
        // Result files belong to the Batch's tenant: only its keys may download them.
        tenant: batch.tenant,
        purpose: "batch_output",
        filename,
        displayName: filename,
        mimeType: "application/jsonl",
        bytes: info.bytes,
        sha256: info.sha256,
        source: "generated",
        createdAtMs: nowMs,
        expiresAtMs: nowMs + retentionMs,
      });
      return id;
    };
    const outputFileId = await register(files.output, ids.output, names.output);
    const errorFileId = await register(files.errors, ids.error, names.error);
    // The files' records and the Batch's end in one Store call: one transaction, one round trip.
    const finished = await store.finishBatch(batch.id, owner, { status, outputFileId, errorFileId, nowMs, files: registered });
    deps.logger.info({ batchId: batch.id, status, outputFileId, errorFileId, ...(writtenEarly === null ? {} : { writtenEarly }) }, "batch finalized");
    return finished;
  } catch (error) {
    await files.abort();
    throw error;
  }
}

/**
 * Collects lines into larger chunks before handing them to the BlobWriter, which it opens with the first
 * chunk: most Batches have no error lines, and an error file opened, then aborted and deleted for each of
 * them was a third of finalization's file work with many small Batches (issue 11).
 */
class BufferedWriter {
  private parts: string[] = [];
  private size = 0;
  private writer: BlobWriter | null = null;
  /**
   * The chunk being written while the next one is formatted: awaited, a write held up the formatting for
   * as long as it took (on PostgreSQL, an insert per MB), and the two took turns. At most one is in flight,
   * so memory stays two chunks; its failure surfaces at the next flush or at commit.
   */
  private writing: Promise<void> = Promise.resolve();
  lines = 0;

  constructor(private readonly open: () => Promise<BlobWriter>) {}

  async writeLine(line: string): Promise<void> {
    this.parts.push(line, "\n");
    this.size += line.length + 1;
    this.lines += 1;
    if (this.size >= FLUSH_BYTES) await this.flush();
  }

  async commit(): Promise<{ bytes: number; sha256: string }> {
    await this.flush();
    await this.writing;
    this.writer ??= await this.open();
    return this.writer.commit();
  }

  /** Discards what was written (nothing to do when nothing was). */
  async abort(): Promise<void> {
    this.parts = [];
    await this.writing.catch(() => undefined);
    await this.writer?.abort();
  }

  private async flush(): Promise<void> {
    if (this.parts.length === 0) return;
    const chunk = Buffer.from(this.parts.join(""), "utf8");
    this.parts = [];
    this.size = 0;
    this.writer ??= await this.open();
    await this.writing;
    // The chunk is a fresh Buffer, never reused: it may be written after this returns.
    const writing = this.writer.write(chunk);
    writing.catch(() => undefined); // awaited by the next flush or by commit; not an unhandled rejection meanwhile
    this.writing = writing;
  }
}
