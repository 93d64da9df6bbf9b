/**
 * The Batch service: the one writer of the Batch lifecycle, as pg-boss's Manager is to pg-boss. Every entry
 * point — the API routes of each dialect, `spool run`, tests — creates, cancels, deletes and retries Batches
 * and reads their results through these functions; routes and commands only turn wire input into commands
 * and the service's answers into wire output.
 *
 * What is decided here and nowhere else: a Batch's invalid-line policy and default lifetime (from its
 * dialect's BatchFormat), how an inline request list becomes the internal input File, the order of
 * "committed, then wake the Workers", and the one page loop over Items.
 *
 * Deliberately not here: validation, claiming, dispatch and finalization (the Worker and Sweeper run them
 * under Leases, possibly in other processes); wire shapes (src/dialects/).
 */
import type { Logger } from "pino";
import type { BatchFormats } from "../core/batch-format.ts";
import type { Clock } from "../core/clock.ts";
import { AppError } from "../core/errors.ts";
import { newBatchId, newFileId } from "../core/ids.ts";
import { isTerminal, type Batch, type Dialect, type Item, type ItemStatus, type RequestKind } from "../core/types.ts";
import type { BlobStore } from "../store/blob-store.ts";
import type { BatchQuery, Store } from "../store/store.ts";
import type { Price } from "../core/batch-cost.ts";
import { batchProgress, type BatchForecast, type BatchProgress } from "../core/batch-progress.ts";
import type { ModelCatalog } from "../core/model-catalog.ts";
import { ForecastReuse, forecastsOf } from "./batch-forecasts.ts";
import { countInputLines } from "./input-lines.ts";
import { DEFAULT_TENANT } from "../core/tenancy.ts";
import { sampleInputFile, type ExpectedWork } from "./input-sample.ts";

/** Purpose of the internal File that holds an inline Batch's requests as JSONL (hidden from file lists). */
export const INLINE_INPUT_PURPOSE = "batch_inline_input";

const PAGE = 1_000;
const INLINE_WRITE_BYTES = 256 * 1024;
/** Finished Items read to find the one an `after` id names exactly (ids sharing it as a prefix come too). */
const CLIENT_ID_MATCHES = 1000;

export const FINISHED_ITEM_STATUSES: readonly ItemStatus[] = ["succeeded", "failed", "cancelled", "expired"];

export interface BatchServiceDeps {
  store: Store;
  blobs: BlobStore;
  clock: Clock;
  logger: Logger;
  formats: BatchFormats;
  /** Wakes local Workers and the Sweeper; a no-op in API-only processes (they poll). */
  notifyWork: () => void;
  /** The configured price of a Model, for cost in progress; undefined when it has none. */
  priceOf?: (model: string) => Price | undefined;
  /** The configured Models: their batch hours shape forecasts. */
  catalog?: ModelCatalog;
  /** Completion windows by dialect for Batches created without one (config `scheduling.defaultWindow`). */
  defaultWindowMs?: Partial<Record<Dialect, number>>;
  /**
   * Told (before `cancel` answers) that a Batch was cancelled, so this process stops its requests
   * (Dispatcher.cancelBatch): none of its Items starts after the cancel is answered.
   */
  onCancelled?: (batchId: string) => void;
  /** Tenants' quotas; none checked without it (`spool run`, tests of the lifecycle). */
  admission?: Admission;
}

/**
 * The input of a new Batch: an uploaded File, or inline request lines (checked by the dialect). Lines may
 * arrive as they are read from the client's body; if their source throws (the dialect found the body bad),
 * nothing is stored.
 */
export type BatchInput = { fileId: string } | { lines: Iterable<string> | AsyncIterable<string> };

export interface CreateBatchCommand {
  dialect: Dialect;
  kind: RequestKind;
  /** Dialect-owned endpoint name ("/v1/chat/completions", "batchGenerateContent"). */
  endpoint: string;
  /** The Model of every Item when the dialect fixes one per Batch (Gemini: the URL's), else null. */
  model: string | null;
  input: BatchInput;
  displayName?: string | null;
  metadata?: Record<string, unknown> | null;
  /** Dialect-owned options kept with the Batch (output expiry, inline results...). */
  options?: Record<string, unknown>;
  priority?: number;
  /** How long the Batch may run before it expires; default: its dialect's. */
  lifetimeMs?: number;
  /** A caller-chosen id (`spool run` records it before creating, to resume after a crash). */
  id?: string;
  /** The owner (src/core/tenancy.ts); the default tenant when left out. */
  tenant?: string;
  /**
   * The client's Idempotency-Key and a digest of what it asked for: a second create with the key returns the
   * first Batch when the digest matches, and is refused (conflict) when it does not. The digest is read once
   * the input was consumed (an inline body may still be arriving when create is called).
   */
  idempotency?: { key: string; digest: () => string };
}

/** Quota checks a create passes before anything is stored (the Tenant service). */
export interface Admission {
  requireRoom(tenant: string, addition: { items?: number; batches?: number }): Promise<void>;
  /** Whether `tenant` has a queued-Items quota, so a File input's lines are worth counting. */
  countsItems(tenant: string): Promise<boolean>;
}

/** Validating Batches whose input sample is remembered (the oldest is forgotten first). */
const MAX_SAMPLES = 1_000;

export class BatchService {
  /** Input samples of validating Batches, by Batch id (see expectedWork). */
  private readonly samples = new Map<string, Promise<ExpectedWork>>();
  private readonly forecastReuse = new ForecastReuse();

  constructor(private readonly deps: BatchServiceDeps) {}

  /**
   * Stores a new Batch in `validating` and wakes the Workers. Once this resolves the Batch is committed:
   * callers must not fail the request afterwards (a client retrying a 5xx would create a second Batch).
   */
  async create(command: CreateBatchCommand): Promise<Batch> {
    const { store, clock, formats } = this.deps;
    const tenant = command.tenant ?? DEFAULT_TENANT;
    const idempotency = command.idempotency;
    const earlier = idempotency === undefined ? null : await store.findBatchByIdempotencyKey(tenant, idempotency.key);
    // A replay is answered even when the quota is now full (with the very Batch it made).
    const admission = earlier === null ? this.deps.admission : undefined;
    await admission?.requireRoom(tenant, { batches: 1 });
    const format = formats[command.dialect];
    const nowMs = clock.now();
    const id = command.id ?? newBatchId();
    const lifetimeMs = command.lifetimeMs ?? this.deps.defaultWindowMs?.[command.dialect] ?? format.defaultLifetimeMs;
    const input = command.input;
    // Counted once here and kept (expectedItems) so the queued-Items quota counts this Batch while it validates.
    let expectedItems: number | null = null;
    if ("fileId" in input && admission !== undefined && (await admission.countsItems(tenant))) {
      expectedItems = await countInputLines(store, this.deps.blobs, input.fileId, tenant);
      await admission.requireRoom(tenant, { items: expectedItems });
    }
    const inline = "lines" in input ? await this.writeInlineInput(id, input.lines, nowMs, lifetimeMs, tenant) : null;
    const inputFileId = "fileId" in input ? input.fileId : (inline?.fileId ?? "");
    const options = inline ? { ...command.options, inline: true, requestCount: inline.count } : { ...command.options, ...(expectedItems === null ? {} : { expectedItems }) };
    const requestDigest = idempotency?.digest() ?? null;
    if (earlier !== null) {
      if (inline) await this.deleteFileQuietly(inputFileId);
      return replayed(earlier, idempotency?.key ?? "", requestDigest);
    }
    let batch: Batch;
    try {
      if (inline !== null) await admission?.requireRoom(tenant, { items: inline.count });
      batch = await store.createBatch({
        id,
        tenant,
        idempotencyKey: idempotency?.key ?? null,
        requestDigest,
        dialect: command.dialect,
        kind: command.kind,
        endpoint: command.endpoint,
        model: command.model,
        inputFileId,
        invalidLinePolicy: format.invalidLinePolicy,
        displayName: command.displayName ?? null,
        metadata: command.metadata ?? null,
        options,
        priority: command.priority ?? 0,
        createdAtMs: nowMs,
        expiresAtMs: nowMs + lifetimeMs,
      });
    } catch (error) {
      if (inline) await this.deleteFileQuietly(inputFileId);
      // Two creates with one Idempotency-Key raced and the other one won: answer with its Batch.
      const winner = idempotency === undefined ? null : await store.findBatchByIdempotencyKey(tenant, idempotency.key).catch(() => null);
      if (winner !== null) return replayed(winner, idempotency?.key ?? "", requestDigest);
      throw error;
    }
    this.wake();
    this.deps.logger.info({ batchId: batch.id, dialect: batch.dialect, status: batch.status, inputFileId, endpoint: batch.endpoint }, "batch created");
    return batch;
  }

  get(id: string): Promise<Batch | null> {
    return this.deps.store.getBatch(id);
  }

  list(query: BatchQuery): Promise<{ batches: Batch[]; hasMore: boolean }> {
    return this.deps.store.listBatches(query);
  }

  /**
   * validating | in_progress -> cancelling; unstarted Items are cancelled at once, running ones finish.
   * A cancelled Batch is returned as it is. Throws AppError("conflict") for a Batch that ended otherwise
   * or is writing its results.
   */
  async cancel(id: string): Promise<Batch> {
    const batch = await this.require(id);
    // Cancelling twice is not an error (OpenAI answers 200 with the batch, as for one still cancelling).
    if (batch.status === "cancelled") return batch;
    // Checked here for a clear message; the Store re-checks atomically (the Batch may finish meanwhile).
    if (isTerminal(batch.status) || batch.status === "finalizing") {
      throw new AppError("conflict", `Cannot cancel a batch with status '${batch.status}'.`, { param: "batch_id" });
    }
    const cancelled = await this.deps.store.cancelBatch(batch.id, this.deps.clock.now());
    this.deps.onCancelled?.(batch.id);
    this.wake();
    if (cancelled.status !== batch.status) this.logTransition(cancelled, batch.status);
    return cancelled;
  }

  /** Hides the Batch from reads and lists and cancels its unfinished Items. False if it did not exist. */
  async delete(id: string): Promise<boolean> {
    const deleted = await this.deps.store.deleteBatch(id, this.deps.clock.now());
    if (deleted) {
      this.deps.onCancelled?.(id);
      this.wake();
      this.deps.logger.info({ batchId: id }, "batch deleted");
    }
    return deleted;
  }

  /**
   * Failed Items of an ended Batch run again; their new results replace the old ones in the same output. By
   * default only the failures another try can fix (store/shared/retryable-failures.ts); `all` for every one.
   */
  async retryFailed(id: string, options: { all?: boolean } = {}): Promise<Batch> {
    const batch = await this.require(id);
    const retried = await this.deps.store.retryFailedItems(batch.id, this.deps.clock.now(), options);
    this.wake();
    this.logTransition(retried, batch.status);
    return retried;
  }

  /** Live counts, rate, ETA and whether the Batch will meet its deadline (the scheduler's forecast). */
  async progress(batch: Batch): Promise<BatchProgress> {
    const forecasts = await this.forecasts([batch]);
    const price = batch.model === null ? undefined : this.deps.priceOf?.(batch.model);
    return batchProgress(batch, this.deps.clock.now(), forecasts.get(batch.id) ?? null, price);
  }

  /** The scheduler's forecast for each of `batches` that still runs, by Batch id (two Store reads per Model). */
  forecasts(batches: readonly Batch[]): Promise<Map<string, BatchForecast>> {
    return forecastsOf({ ...this.deps, reuse: this.forecastReuse }, batches, (batch) => this.expectedWork(batch));
  }

  /** The Items of a Batch in input order (optionally only some statuses), read one page at a time. */
  async *items(batchId: string, options: { statuses?: readonly ItemStatus[]; afterIndex?: number } = {}): AsyncGenerator<Item[]> {
    let afterIndex = options.afterIndex ?? -1;
    for (;;) {
      const page = await this.deps.store.readItems(batchId, { afterIndex, limit: PAGE, statuses: options.statuses });
      if (page.items.length > 0) yield page.items;
      if (page.nextAfterIndex === null) return;
      afterIndex = page.nextAfterIndex;
    }
  }

  /** The finished Items (those with a result) in input order, while the Batch runs or after it ended. */
  async *finishedResults(batchId: string, options: { afterIndex?: number } = {}): AsyncGenerator<Item[]> {
    for await (const page of this.items(batchId, { statuses: FINISHED_ITEM_STATUSES, afterIndex: options.afterIndex })) {
      const finished = page.filter((item) => item.result !== null);
      if (finished.length > 0) yield finished;
    }
  }

  /**
   * The next results after the Item whose client id is `afterClientId` (from the start without one), in input
   * order, at most `limit`, stopping at the first Item without a result yet: a client polling with the id of
   * the last line it received then never skips a result that finishes later than one after it, nor sees one
   * twice. Null when `afterClientId` names no finished Item.
   */
  async resultsAfter(batchId: string, params: { afterClientId?: string; limit: number }): Promise<Item[] | null> {
    let afterIndex = -1;
    if (params.afterClientId !== undefined) {
      const found = (await this.deps.store.findItemsByClientId(batchId, params.afterClientId, CLIENT_ID_MATCHES)).find((item) => item.clientId === params.afterClientId);
      if (found === undefined) return null;
      afterIndex = found.index;
    }
    const results: Item[] = [];
    for await (const page of this.items(batchId, { afterIndex })) {
      for (const item of page) {
        if (!FINISHED_ITEM_STATUSES.includes(item.status) || results.length >= params.limit) return results;
        if (item.result !== null) results.push(item);
      }
    }
    return results;
  }

  /** Wakes local Workers and the Sweeper. Never throws: they find the work on their next poll anyway. */
  wake(): void {
    try {
      this.deps.notifyWork();
    } catch (error) {
      this.deps.logger.warn({ err: error }, "waking workers failed; they will find the work on their next poll");
    }
  }

  /** One structured line per Batch transition a client asked for (the Sweeper logs the others). */
  private logTransition(batch: Batch, from: Batch["status"]): void {
    this.deps.logger.info({ batchId: batch.id, dialect: batch.dialect, from, status: batch.status }, "batch status changed");
  }

  private async require(id: string): Promise<Batch> {
    const batch = await this.deps.store.getBatch(id);
    if (!batch) throw new AppError("not_found", `No such Batch object: ${id}.`, { param: "batch_id" });
    return batch;
  }

  /**
   * How big a validating Batch will be and on which Model, for its forecast until validation knows: read
   * from its input when first asked (never at create: creating stays one Store write), then remembered.
   */
  private expectedWork(batch: Batch): Promise<ExpectedWork> {
    let work = this.samples.get(batch.id);
    if (work === undefined) {
      work = this.sampleInput(batch);
      if (this.samples.size >= MAX_SAMPLES) this.samples.delete(this.samples.keys().next().value as string);
      this.samples.set(batch.id, work);
    }
    return work;
  }

  private async sampleInput(batch: Batch): Promise<ExpectedWork> {
    const { store, blobs, formats } = this.deps;
    try {
      const file = batch.inputFileId === null ? null : await store.getFile(batch.inputFileId);
      const work = file === null ? {} : await sampleInputFile(blobs, file.id, file.bytes, formats[batch.dialect]);
      return batch.model === null ? work : { ...work, expectedModel: batch.model };
    } catch (error) {
      // Only an estimate: validation will count the Items.
      this.deps.logger.debug({ err: error, batchId: batch.id }, "could not sample the batch input for its forecast");
      return {};
    }
  }

  /** Writes inline request lines as the internal JSONL File a Batch validates like any upload. */
  private async writeInlineInput(batchId: string, lines: Iterable<string> | AsyncIterable<string>, nowMs: number, lifetimeMs: number, tenant: string): Promise<{ fileId: string; count: number }> {
    const { store, blobs } = this.deps;
    const fileId = newFileId();
    const counted = { lines: 0 };
    const info = await blobs.put(fileId, chunkLines(lines, counted));
    try {
      await store.createFile({
        id: fileId,
        tenant,
        purpose: INLINE_INPUT_PURPOSE,
        filename: `${batchId}-inline.jsonl`,
        displayName: null,
        mimeType: "application/jsonl",
        bytes: info.bytes,
        sha256: info.sha256,
        source: "uploaded",
        createdAtMs: nowMs,
        expiresAtMs: nowMs + lifetimeMs,
      });
    } catch (error) {
      await blobs.delete(fileId).catch(() => false);
      throw error;
    }
    return { fileId, count: counted.lines };
  }

  private async deleteFileQuietly(fileId: string): Promise<void> {
    await this.deps.store.deleteFile(fileId).catch(() => false);
    await this.deps.blobs.delete(fileId).catch(() => false);
  }
}

/** The Batch an Idempotency-Key created before, if this create asks for the same; else a conflict. */
function replayed(found: Batch & { requestDigest: string | null }, key: string, requestDigest: string | null): Batch {
  const { requestDigest: digest, ...batch } = found;
  if (digest !== requestDigest) {
    // already_exists: a 409 in every dialect (their "conflict" is a 400 where the state forbids an operation).
    throw new AppError("already_exists", `The Idempotency-Key '${key}' was already used for a different batch request (batch ${batch.id}); use a new key for a new request.`, {
      param: "Idempotency-Key",
      reason: "idempotency_key_reused",
    });
  }
  return batch;
}

/** Lines as ~256 KB chunks of JSONL bytes: one write per chunk, not per line. */
async function* chunkLines(lines: Iterable<string> | AsyncIterable<string>, counted: { lines: number }): AsyncGenerator<Buffer> {
  let chunk: string[] = [];
  let size = 0;
  for await (const line of lines) {
    counted.lines += 1;
    chunk.push(line, "\n");
    size += line.length + 1;
    if (size >= INLINE_WRITE_BYTES) {
      yield Buffer.from(chunk.join(""), "utf8");
      chunk = [];
      size = 0;
    }
  }
  if (chunk.length > 0) yield Buffer.from(chunk.join(""), "utf8");
}
