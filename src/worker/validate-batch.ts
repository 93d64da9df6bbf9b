/**
 * Validation: streams a Batch's input file once, checks every line, and turns the valid ones into pending
 * Items (inserted in chunks, so a million-line file never sits in memory). Ends with startBatch (the Batch
 * runs) or failBatch (every bad line reported).
 *
 * Runs under the Batch's validation Lease. If the process dies mid-way the Lease expires, another Worker
 * claims the Batch, clears the Items inserted so far and starts over: validation is idempotent.
 *
 * Retries are bounded (issue 9): the Store counts validation Attempts when the Lease is taken. An
 * unexpected error (a failure of spool, not of the input) is retried after a short delay, and on the last
 * Attempt the Batch fails with that error as its reason; a Batch claimed more often than that (its
 * validation kept killing the process) fails at once. Either way it ends, and a cancel of it reaches
 * "cancelled", instead of the Batch being re-validated every Lease period forever.
 */
import type { Logger } from "pino";
import type { BatchFormat, BatchFormats, ParsedLine } from "../core/batch-format.ts";
import type { ReuseResults } from "../config/config.ts";
import { requestHashOf } from "../core/request-keys.ts";
import type { Clock } from "../core/clock.ts";
import type { ModelCatalog } from "../core/model-catalog.ts";
import { isBlankLine, readJsonlLines, type LineEvent } from "../core/jsonl-lines.ts";
import type { Batch, LineError } from "../core/types.ts";
import { BlobNotFoundError, type BlobStore } from "../store/blob-store.ts";
import { isStorageFailure } from "../core/errors.ts";
import type { ClaimedBatch, NewItem, Store } from "../store/store.ts";
import { BatchLease, LeaseLostError } from "./batch-lease.ts";
import { BatchCachedModels } from "./cached-models.ts";
import { RepeatedHashes } from "./repeated-hashes.ts";
import { referenceCheck, type MediaReferenceSettings } from "./media-reference-check.ts";
import type { MediaFiles } from "../core/media.ts";
import type { Dispatcher } from "../core/dispatcher.ts";
import { FirstLineIndex } from "./first-line-index.ts";

export interface ValidationDeps {
  store: Store;
  blobs: BlobStore;
  catalog: ModelCatalog;
  clock: Clock;
  logger: Logger;
  formats: BatchFormats;
  limits: { maxLineBytes: number; maxBatchItems: number };
  leaseMs: number;
  /** Claim order for the Batches validated here (config `worker.dispatchOrder`); default "prefix". */
  dispatchOrder?: DispatchOrder;
  /** Looks up the Files lines refer to; absent: references are checked only at dispatch. */
  media?: { files: MediaFiles; maxInlineBytes: number };
  /** Batches cancelled since this process started (cancelled-batches.ts); absent: validation reads on to the end. */
  cancelled?: Dispatcher["cancelled"];
  /**
   * How often a validation under way asks the Store whether its Batch was cancelled, for a cancel taken by
   * another process whose announcement never arrived (decision 0047; the Sweeper passes `worker.sweepMs`).
   * Absent: only `cancelled` is read.
   */
  cancelLookMs?: number;
}

/** A cancel reached a validation under way (checked after each chunk written). */
class ValidationCancelled extends Error {}

/** Whether the Batch under validation was cancelled: as this process knows, or as the Store says (at most once per `cancelLookMs`). */
class CancelCheck {
  private lastLookMs: number;

  constructor(
    private readonly deps: ValidationDeps,
    private readonly batchId: string,
  ) {
    // A validation shorter than one look never asks.
    this.lastLookMs = deps.clock.now();
  }

  async cancelled(): Promise<boolean> {
    if (this.deps.cancelled?.has(this.batchId)) return true;
    const { cancelLookMs } = this.deps;
    const nowMs = this.deps.clock.now();
    if (cancelLookMs === undefined || nowMs - this.lastLookMs < cancelLookMs) return false;
    this.lastLookMs = nowMs;
    return (await this.deps.store.cancelledBatches([this.batchId])).length > 0;
  }
}

export type DispatchOrder = "prefix" | "input";

/** Most LineErrors kept on a Batch; beyond that one summary error says how many more there were. */
export const MAX_STORED_LINE_ERRORS = 10_000;
/**
 * Items per Store write while validating (one written while the next is parsed). 1,000 rather than 5,000:
 * two chunks of 5,000 requests (3.5 MB of text each, plus PostgreSQL's array literal and message built
 * from them) lived long enough to be promoted, and the collector took 28% of the main thread while a
 * 100k-line file was parsed on PostgreSQL; at 1,000 it took 10%. Validation of the e2e bench's 100k
 * lines: 8.0-9.7 -> 7.3-7.9 s on PostgreSQL, 4.4-4.6 -> 3.8-4.2 s on SQLite. The writes this adds are
 * small transactions; the Lease is still renewed only every leaseMs / 3.
 */
const INSERT_CHUNK = 1_000;
/**
 * Chunk writes under way at once: a chunk's write starts as soon as it is full, and the parse waits only
 * when this many are under way. Writes used to run one after another, each starting when the one before
 * ended; on PostgreSQL each ends in a commit that waits for the WAL to reach the disk, and spool and the
 * server both sat idle through it (~50% each). With two, validation of the e2e bench's 100k lines took
 * 1.5-1.8 s instead of 2.0-2.2 s on PostgreSQL (SQLite 0.7-0.9 s either way). Chunks may then commit out
 * of order; each carries its own indexes, and an interrupted validation starts over.
 */
export const WRITES_IN_FLIGHT = 2;
/**
 * Chunk writes under way across every validation of this process. The Sweeper runs several validations at
 * once, and on PostgreSQL each write holds one of the pool's connections (10 by default) for its
 * transaction: with two writes each, four large validations would take eight and leave the claims and
 * completions of running Batches waiting for the other two. Four is what they held before writes overlapped.
 */
export const PROCESS_WRITES = 4;
/** Validation Attempts before a Batch that keeps failing inside spool is failed. */
export const MAX_VALIDATION_ATTEMPTS = 3;
/** Wait before the next Attempt after an unexpected error: 1 s, then 2 s (never more than the Lease). */
const RETRY_DELAY_MS = 1_000;
/** How much of an unexpected error's message a failed Batch reports. */
const MAX_REASON_CHARS = 500;

export interface ValidationReport {
  /** Items: valid lines, and invalid ones under the "skip" policy. */
  total: number;
  /** Non-blank lines, valid or not. */
  lines: number;
  errors: LineError[];
  /** Bad lines found in all (may exceed errors.length when capped). */
  errorCount: number;
  model: string | null;
  /**
   * Whether startBatch must arrange the Batch: its Items do not all share one prefix key (or all have none),
   * or two Items may be duplicates (the same request hash). Otherwise the arrangement would keep the input
   * order and make no followers, which is what the plain start gives, at a third of the cost.
   */
  keyed: boolean;
}

/**
 * Checks every line of a stream against a dialect's rules, calling `onItem` for each resulting Item.
 * Shared by the Worker and by `spool validate` / `spool run`.
 */
export async function checkLines(
  source: AsyncIterable<Uint8Array>,
  params: {
    batch: Batch;
    format: BatchFormat;
    catalog: ModelCatalog;
    limits: { maxLineBytes: number; maxBatchItems: number };
    nowMs: () => number;
    /** Called for every valid line, and for invalid ones under the "skip" policy (with `result`). */
    onItem?: (item: NewItem) => Promise<void> | void;
    /** Called for every LineError as found (even beyond the stored cap). */
    onError?: (error: LineError) => void;
    /** Called for every warning of a valid line (ParsedLine.warnings). */
    onWarning?: (warning: LineError) => void;
    /** Give Items the keys for claim order and duplicate reuse (a Batch about to run; not `spool validate`). */
    keys?: { order: DispatchOrder };
    /** Check that the Files lines refer to can be sent (absent: references are not looked up). */
    media?: MediaReferenceSettings;
  },
): Promise<ValidationReport> {
  const { batch, format, catalog, limits } = params;
  const keysOf = params.keys ? itemKeys(format, catalog, params.keys.order) : null;
  const checkReferences = params.media ? referenceCheck(params.media, catalog) : null;
  /** Items have different prefix keys (or some have none): startBatch arranges the claim order. */
  let keyed = false;
  let firstPrefixKey: string | null | undefined;
  /** Whether two Items may share a request hash: only then does startBatch look for duplicates. */
  const requestHashes = new RepeatedHashes();
  const firstLineOfId = new FirstLineIndex();
  const errors: LineError[] = [];
  let errorCount = 0;
  let total = 0;
  let lines = 0;
  let model: string | null = null;
  let sawRequest = false;

  const report = (error: LineError): void => {
    errorCount += 1;
    params.onError?.(error);
    if (errors.length < MAX_STORED_LINE_ERRORS) errors.push(error);
  };

  // Synchronous unless the Item sink returns a promise: an await per line costs as much as the checks.
  const handle = (event: LineEvent): Promise<void> | void => {
    if ("problem" in event) {
      sawRequest = true;
      lines += 1;
      const error: LineError =
        event.problem === "line_too_long"
          ? { line: event.lineNumber, code: "line_too_long", param: null, message: `Line ${event.lineNumber} is ${event.byteLength} bytes long; the limit is ${limits.maxLineBytes} bytes.` }
          : { line: event.lineNumber, code: "invalid_utf8", param: null, message: `Line ${event.lineNumber} is not valid UTF-8.` };
      report(error);
      return addInvalid([error], null, null, event.lineNumber);
    }
    if (isBlankLine(event.text)) return;
    sawRequest = true;
    lines += 1;
    const outcome = format.parseLine(event.text, event.lineNumber, batch, catalog);
    if (!outcome.ok) {
      // A bad line's model still counts for "one model per file", so the same file gets the same
      // model_mismatch problems whether or not its models could also be checked against a config.
      const mismatch = outcome.model === undefined ? null : (format.modelMismatchError?.(outcome.model, model, event.lineNumber) ?? null);
      if (outcome.model !== undefined) model ??= outcome.model;
      const lineErrors = mismatch ? [...outcome.errors, mismatch] : outcome.errors;
      for (const error of lineErrors) report(error);
      return addInvalid(lineErrors, outcome.clientId, outcome.echo, event.lineNumber);
    }
    const line = outcome.line;
    for (const warning of line.warnings ?? []) params.onWarning?.(warning);
    if (line.clientId !== null) {
      const firstLine = firstLineOfId.firstLineOr(line.clientId, event.lineNumber);
      if (firstLine !== undefined) {
        const error = format.duplicateIdError(line.clientId, event.lineNumber, firstLine);
        report(error);
        return addInvalid([error], line.clientId, line.echo, event.lineNumber);
      }
    }
    const mismatch = format.modelMismatchError?.(line.model, model, event.lineNumber) ?? null;
    if (mismatch) {
      report(mismatch);
      return addInvalid([mismatch], line.clientId, line.echo, event.lineNumber);
    }
    model ??= line.model;
    const references = checkReferences === null ? [] : format.mediaReferences(line.body);
    if (references.length === 0 || checkReferences === null) return addValid(line);
    return checkReferences(references, event.lineNumber, line.model).then((problems) => {
      for (const error of problems) report(error);
      return problems.length > 0 ? addInvalid(problems, line.clientId, line.echo, event.lineNumber) : addValid(line);
    });
  };

  const addValid = (line: ParsedLine): Promise<void> | void => {
    const keys = keysOf?.(line) ?? NO_KEYS;
    // One prefix group holding every Item is claimed in input order anyway: only a second key reorders.
    if (firstPrefixKey === undefined) firstPrefixKey = keys.prefixKey;
    else if (keys.prefixKey !== firstPrefixKey) keyed = true;
    if (keys.requestHash !== null) requestHashes.note(keys.requestHash);
    return addItem({ clientId: line.clientId, echo: line.echo, model: line.model, kind: line.kind, request: line.request, ...keys });
  };

  const addItem = (item: Omit<NewItem, "index">): Promise<void> | void => {
    const index = total;
    total += 1;
    if (total === limits.maxBatchItems + 1) {
      report({ line: null, code: "too_many_tasks", param: null, message: `The batch has more than ${limits.maxBatchItems} requests, the limit per batch.` });
    }
    // Under the "fail" policy nothing is inserted once an error is known: the Batch will fail anyway.
    if (errorCount > 0 && batch.invalidLinePolicy === "fail") return;
    return params.onItem?.({ index, ...item });
  };

  const addInvalid = (lineErrors: readonly LineError[], clientId: string | null, echo: string | null, lineNumber: number): Promise<void> | void => {
    if (batch.invalidLinePolicy !== "skip") return;
    return addItem({
      clientId,
      echo,
      model: batch.model ?? "",
      kind: batch.kind,
      request: JSON.stringify({ invalidLine: lineNumber }),
      result: format.invalidLineResult(lineErrors, params.nowMs()),
    });
  };

  for await (const events of readJsonlLines(source, { maxLineBytes: limits.maxLineBytes })) {
    for (const event of events) {
      const pending = handle(event);
      if (pending) await pending;
    }
  }
  if (!sawRequest) report({ line: null, code: "empty_file", param: null, message: "The input file has no requests." });
  if (errorCount > errors.length) {
    errors.push({ line: null, code: "too_many_errors", param: null, message: `${errorCount - errors.length} more bad lines were found and not listed.` });
  }
  return { total, lines, errors, errorCount, model, keyed: keyed || requestHashes.any };
}

const NO_KEYS: ItemKeys = Object.freeze({ prefixKey: null, requestHash: null });

interface ItemKeys {
  prefixKey: string | null;
  requestHash: string | null;
}

/**
 * The keys of one valid line (issue 10): its dialect's prefix key unless the order is "input", and the
 * hash of its body when its Model reuses results for it (`reuseResults`: deterministic requests by
 * default). Hashing costs a JSON.stringify of the body, so only lines that may be reused pay it.
 */
function itemKeys(format: BatchFormat, catalog: ModelCatalog, order: DispatchOrder): (line: ParsedLine) => ItemKeys {
  const reuseByModel = new Map<string, ReuseResults>();
  return (line) => {
    let reuse = reuseByModel.get(line.model);
    if (reuse === undefined) {
      reuse = catalog.get(line.model)?.reuseResults ?? "deterministic";
      reuseByModel.set(line.model, reuse);
    }
    if (order === "input" && reuse === "never") return NO_KEYS;
    const traits = format.requestTraits(line.body, line.kind, line.model);
    const reused = reuse === "always" || (reuse === "deterministic" && traits.deterministic);
    return { prefixKey: order === "prefix" ? traits.prefixKey : null, requestHash: reused ? requestHashOf(line.body) : null };
  };
}

/**
 * Validates one claimed Batch end to end. Returns the Batch after start or failure, or null when the Lease
 * was lost or the Batch will be validated again (after an unexpected error with Attempts left).
 */
export async function validateBatch(deps: ValidationDeps, batch: Batch & Partial<Pick<ClaimedBatch, "attempt">>, owner: string): Promise<Batch | null> {
  const { store, clock } = deps;
  // From claimValidation; a Batch validated without a claim's count is on its first Attempt.
  const attempt = batch.attempt ?? 1;
  const log = deps.logger.child({ batchId: batch.id, attempt });
  if (attempt > MAX_VALIDATION_ATTEMPTS) {
    log.error("validation never finished; failing the batch");
    const message = `The batch could not be validated: validation was started ${attempt - 1} times and never finished (the process validating it stopped each time). See the server log.`;
    return store.failBatch(batch.id, { owner, errors: [{ line: null, code: "internal_error", param: null, message }], nowMs: clock.now() });
  }
  try {
    return await runValidation(deps, batch, owner);
  } catch (error) {
    // The database is down or the disk is full (the Store has logged it): failing the Batch would not be
    // recorded either. The Lease runs out and the next Attempt comes after it, when that may have passed.
    const storageFailure = isStorageFailure(error);
    if (!storageFailure) log.error({ err: error }, "validation failed inside spool");
    if (attempt < MAX_VALIDATION_ATTEMPTS) {
      if (!storageFailure) {
        const delayMs = Math.min(deps.leaseMs, RETRY_DELAY_MS * 2 ** (attempt - 1));
        await store.renewBatchLease(batch.id, { owner, nowMs: clock.now(), leaseMs: delayMs });
      }
      return null;
    }
    const reason = (error instanceof Error ? error.message : String(error)).slice(0, MAX_REASON_CHARS);
    const message = `The batch could not be validated: spool failed ${attempt} times while validating it (the last error: ${reason}). See the server log.`;
    return store.failBatch(batch.id, { owner, errors: [{ line: null, code: "internal_error", param: null, message }], nowMs: clock.now() });
  }
}

async function runValidation(deps: ValidationDeps, batch: Batch, owner: string): Promise<Batch | null> {
  const { store, blobs, clock } = deps;
  const format = deps.formats[batch.dialect];
  const log = deps.logger.child({ batchId: batch.id });
  const started = clock.now();

  // An earlier, interrupted attempt left Items (counted in `total` as they went in): start over. A first
  // attempt has none, and skips a Store round trip that waits behind the running Items' writes.
  if (batch.counts.total > 0) await store.clearItems(batch.id);
  if (batch.inputFileId === null) throw new Error(`Batch ${batch.id} has no input file.`);
  // A Batch may name a File that does not exist (OpenAI's create accepts any id, as the hosted service does).
  // Another tenant's File is as missing as a deleted one: a Batch never reads input its tenant cannot see.
  const input = await store.getFile(batch.inputFileId);
  if (input === null || input.tenant !== batch.tenant) return store.failBatch(batch.id, { owner, errors: [missingFileError(batch.inputFileId)], nowMs: clock.now() });

  let buffer: NewItem[] = [];
  const cachedModels = new BatchCachedModels(deps.catalog);
  const lease = new BatchLease({ store, clock, batchId: batch.id, owner, leaseMs: deps.leaseMs, phase: "validation" });
  const cancel = new CancelCheck(deps, batch.id);
  // Chunks are written while the next ones are read: the Store (its own thread on SQLite, a round trip on
  // PostgreSQL) and the parsing took turns before, each idle half the time. Up to WRITES_IN_FLIGHT at once.
  const writes: Promise<void>[] = [];
  const flush = async (): Promise<void> => {
    if (buffer.length === 0) return;
    const chunk = buffer;
    buffer = [];
    const write = (async () => {
      await writeSlots.take();
      try {
        await store.insertItems(batch.id, chunk);
      } finally {
        writeSlots.give();
      }
      if (await cancel.cancelled()) throw new ValidationCancelled();
      await lease.keep();
    })();
    // Handled here too: a failed write is thrown by a later flush or the last wait, and must not go
    // unhandled while the parse it would interrupt still runs (or has failed itself).
    write.catch(() => undefined);
    writes.push(write);
    if (writes.length >= WRITES_IN_FLIGHT) await writes.shift();
  };
  const writing = async (): Promise<void> => {
    await Promise.all(writes.splice(0));
  };

  let report: ValidationReport;
  try {
    const source = await blobs.read(batch.inputFileId);
    report = await checkLines(source, {
      batch,
      format,
      catalog: deps.catalog,
      limits: deps.limits,
      nowMs: () => clock.now(),
      keys: { order: deps.dispatchOrder ?? "prefix" },
      // Lines may name only their Batch's tenant's Files.
      media: deps.media === undefined ? undefined : { ...deps.media, owner: batch.tenant },
      onItem: (item) => {
        buffer.push(item);
        cachedModels.note(item);
        return buffer.length >= INSERT_CHUNK ? flush() : undefined;
      },
    });
    // The last chunk goes in with the start (one Store call for a Batch of one chunk), or not at all if the
    // Batch fails (failBatch deletes every Item).
    await writing();
  } catch (error) {
    // Nothing may still be writing once the Batch is failed or left to another Worker.
    await Promise.allSettled(writes.splice(0));
    if (error instanceof LeaseLostError) {
      log.warn("validation lease lost; another worker took the batch over");
      return null;
    }
    if (error instanceof ValidationCancelled) {
      // The rest of the input is not read: the Batch ends cancelled with no Items, as one cancelled before
      // its validation began does, not with as many as happened to be read (startBatch keeps it cancelling).
      log.info({ ms: clock.now() - started }, "validation stopped: the batch was cancelled");
      await store.clearItems(batch.id);
      return store.startBatch(batch.id, { owner, total: 0, model: batch.model, errors: null, nowMs: clock.now() });
    }
    if (error instanceof BlobNotFoundError) {
      return store.failBatch(batch.id, { owner, errors: [missingFileError(batch.inputFileId)], nowMs: clock.now() });
    }
    throw error;
  }

  const nowMs = clock.now();
  // Some problems fail the Batch whatever its policy: nothing to run, or more than it may hold.
  const fatal = report.total === 0 || report.errors.some((error) => error.code === "too_many_tasks" || error.code === "empty_file");
  const failed = fatal || (report.errorCount > 0 && batch.invalidLinePolicy === "fail");
  log.info({ total: report.total, badLines: report.errorCount, ms: nowMs - started, failed }, "batch validated");
  if (failed) return store.failBatch(batch.id, { owner, errors: report.errors, nowMs });
  return store.startBatch(batch.id, {
    owner,
    total: report.total,
    model: batch.model ?? report.model,
    errors: report.errors.length > 0 ? report.errors : null,
    nowMs,
    arrange: report.keyed,
    resultCache: cachedModels.at(nowMs),
    items: buffer,
  });
}

/** PROCESS_WRITES slots, taken in turn by the validations of this process. */
class WriteSlots {
  private waiting: (() => void)[] = [];

  constructor(private free: number) {}

  take(): Promise<void> {
    if (this.free > 0) {
      this.free -= 1;
      return Promise.resolve();
    }
    return new Promise((resolve) => this.waiting.push(resolve));
  }

  give(): void {
    const next = this.waiting.shift();
    if (next) next();
    else this.free += 1;
  }
}

const writeSlots = new WriteSlots(PROCESS_WRITES);

function missingFileError(fileId: string): LineError {
  return { line: null, code: "file_not_found", param: "input_file_id", message: `Cannot find file ${fileId}: it does not exist or has been deleted.` };
}
