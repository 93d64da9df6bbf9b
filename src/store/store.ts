/**
 * The Store contract: all durable state of spool except file contents (see blob-store.ts).
 *
 * Implementations: src/store/sqlite/ (embedded default, one file in the data dir, WAL) and
 * src/store/postgres/ (scale-out: many processes share one database). Both must pass the conformance
 * suite in test/store/ and give identical observable behaviour.
 *
 * Rules every implementation follows:
 * - Callers never hold SQL: they call the named operations below.
 * - Time is passed in (`nowMs`, epoch milliseconds from the injected Clock); SQL never calls now().
 * - Every state change is one atomic statement or transaction, guarded by the state it expects
 *   (`WHERE status = ...`), so two processes racing on the same Batch or Item cannot both win.
 * - Item results are fenced: a completion is accepted only from the Worker that holds the Item's Lease
 *   for the same Attempt. A Worker whose Lease expired (paused, partitioned) cannot overwrite the result of
 *   the Worker that took the Item over — this is what makes "exactly one result per Item" hold.
 * - Batch counters (`counts`, `usage`) are updated in the same transaction as the Items they count, so a
 *   reader never sees counts that disagree with Item states.
 * - Nothing is acknowledged unless it was committed. Failures of the storage itself are AppErrors with the
 *   same codes in every implementation, logged once by the Store: "insufficient_storage" (the disk is
 *   full; the change was rolled back) and "unavailable" (the database cannot be reached). The API answers
 *   them 507 and 503; background loops back off and try again.
 * - Every string round-trips as given, U+0000 included (decision 0006), so an id containing one is simply
 *   not found.
 *
 * Deliberately left out: per-Item history of Attempts (only the count and the last result are kept),
 * and any query by client metadata.
 */
import type {
  Batch,
  BatchStatus,
  Dialect,
  FileRecord,
  InvalidLinePolicy,
  Item,
  ItemResult,
  ItemStatus,
  LineError,
  RequestKind,
} from "../core/types.ts";
import type { CapacityLedger } from "./capacity-ledger.ts";
import type { SchedulingViews } from "./scheduling-views.ts";
import type { StoreInsights } from "./store-insights.ts";
import type { TenantDirectory } from "./tenant-directory.ts";
import type { WebhookOutbox } from "./webhook-outbox.ts";
import type { WorkEvents } from "./work-events.ts";

/** A File record as the caller creates it: every field of FileRecord is the caller's to choose (tenant: default). */
export type NewFile = Omit<FileRecord, "tenant"> & { tenant?: string };

export interface FileQuery {
  /** Only this tenant's Files (a member's list); every tenant's without it. */
  tenant?: string;
  purpose?: string;
  /** Cursor: return files after this id in the chosen order. */
  afterId?: string;
  limit: number;
  order: "asc" | "desc";
}

export interface NewBatch {
  id: string;
  /** Owner (src/core/tenancy.ts); the default tenant when left out. */
  tenant?: string;
  /** The create's Idempotency-Key and a digest of its parameters (unique per tenant, migration 011). */
  idempotencyKey?: string | null;
  requestDigest?: string | null;
  dialect: Dialect;
  kind: RequestKind;
  endpoint: string;
  model: string | null;
  inputFileId: string | null;
  invalidLinePolicy: InvalidLinePolicy;
  displayName: string | null;
  metadata: Record<string, unknown> | null;
  options: Record<string, unknown>;
  priority: number;
  createdAtMs: number;
  expiresAtMs: number;
}

export interface BatchQuery {
  dialect?: Dialect;
  /** Only this tenant's Batches (a member's list); every tenant's without it. */
  tenant?: string;
  /** Cursor: return Batches older than this one (lists are newest first). */
  afterId?: string;
  /**
   * Cursor the other way: the `limit` Batches just newer than this one, still newest first; `hasMore` then
   * says whether there are newer ones still (Anthropic's `before_id`). Not combined with `afterId`.
   */
  beforeId?: string;
  limit: number;
  /** Deleted Batches are hidden unless asked for. */
  includeDeleted?: boolean;
  /** Only Batches in one of these statuses. */
  statuses?: readonly BatchStatus[];
  /** Only Batches whose Model is this one. */
  model?: string;
}

/** One Item as produced by validation. Invalid lines of a "skip" Batch arrive with `result` set. */
export interface NewItem {
  index: number;
  clientId: string | null;
  echo: string | null;
  model: string;
  kind: RequestKind;
  request: string;
  /** Set for a line that failed validation in a "skip" Batch: inserted directly as failed. */
  result?: ItemResult;
  /** Items with the same key share the start of their prompt (RequestTraits.prefixKey); see startBatch. */
  prefixKey?: string | null;
  /**
   * Set when this Item's result may be shared with identical Items of its Batch (the Model's
   * `reuseResults`): Items with the same hash are the same request (src/core/request-keys.ts).
   */
  requestHash?: string | null;
}

export interface StartBatchParams {
  owner: string;
  total: number;
  model: string | null;
  errors: LineError[] | null;
  nowMs: number;
  /**
   * True when Items were inserted with prefix keys, or with request hashes of which two may be equal: their
   * claim order and duplicate leaders are then worked out (see startBatch). Validation knows; a Batch with
   * neither is spared the sort (its claim order is its input order, and it has no followers).
   */
  arrange?: boolean;
  /**
   * The Models whose results are reused across Batches (`resultCache`), each with the oldest result it may
   * still reuse. Pending Items of these Models whose request matches a cached result take a copy of it
   * instead of running (see startBatch).
   */
  resultCache?: readonly CachedModel[];
  /**
   * The input's last Items, inserted as insertItems would, in the start's own transaction (only while the
   * Lease is held): validation's last chunk and the start in one round trip. A small Batch's whole input.
   */
  items?: readonly NewItem[];
}

/** A Model with the cross-Batch result cache on: results created before `notBeforeMs` are too old to reuse. */
export interface CachedModel {
  model: string;
  notBeforeMs: number;
}

/**
 * A Batch handed to a validator, with the number of its validation Attempt (1 for the first claim).
 * Attempts are counted when the Lease is taken, as for Items, so a validation that kills its process
 * still uses one up, and the Sweeper can give up on a Batch that never validates (validate-batch.ts).
 */
export interface ClaimedBatch extends Batch {
  attempt: number;
}

/** An Item handed to a Worker, with the Attempt number that fences its completion. */
export interface ClaimedItem extends Item {
  /**
   * The Item's request as validation stored it (its input line, in the Batch's dialect). Only claims carry it:
   * the request lives apart from the Item's status (migration 005), and nothing but a Worker reads it.
   */
  request: string;
  attempt: number;
  /** Its Batch's dialect: how the Worker reads the request body. */
  dialect: Dialect;
  /** The prefix key validation gave it (NewItem.prefixKey): Items with the same key share a prompt start. */
  prefixKey: string | null;
}

export interface ClaimRequest {
  owner: string;
  /** Claim only Items of this Model (each Model has its own concurrency). */
  model: string;
  limit: number;
  nowMs: number;
  leaseMs: number;
  /**
   * The Worker's fair share (src/scheduling/): claim only from these Batches (by seq), at most `limit`
   * Items of each, Batch after Batch in this order. Without it: oldest Batch first (FIFO).
   */
  batches?: readonly BatchClaim[];
}

/** Up to `limit` Items of the Batch whose seq is `batchSeq`, in its claim order. */
export interface BatchClaim {
  batchSeq: number;
  limit: number;
}

export interface ItemCompletion {
  batchId: string;
  index: number;
  owner: string;
  attempt: number;
  /** "cancelled": a request its Batch's cancel stopped before it was sent (its followers are cancelled already). */
  status: "succeeded" | "failed" | "cancelled";
  result: ItemResult;
  /**
   * Keep a succeeded result for later Batches (the Item's Model has `resultCache` on). Stored only when the
   * Item has a request hash (it is reusable at all); see startBatch.
   */
  cacheResult?: boolean;
}

/** What finalization will make of a Batch (decided by findBatchesToFinalize's state). */
export type FinalStatus = "completed" | "expired" | "cancelled";

export interface BatchLeaseRequest {
  owner: string;
  nowMs: number;
  leaseMs: number;
}

export interface FinalizeResult {
  status: FinalStatus;
  outputFileId: string | null;
  errorFileId: string | null;
  nowMs: number;
  /**
   * The result files' records, registered in the same transaction: each replaces any record with its id
   * (a Batch finalized again, after a retry or by a Worker that took over, rewrites the same ids), listed
   * as newest. Registered even when the Lease was lost, as separate createFile calls were: their blobs are
   * written either way, and the record is what lets retention delete them.
   */
  files?: readonly NewFile[];
}

export interface ItemPage {
  items: Item[];
  /** Pass as `afterIndex` to get the next page; null when there are no more Items. */
  nextAfterIndex: number | null;
}

/**
 * Also the webhook outbox (webhook-outbox.ts), the operators' read views (store-insights.ts) and the
 * capacity ledger (capacity-ledger.ts), the scheduler's views (scheduling-views.ts) and the tenants with
 * their keys (tenant-directory.ts). A Store that several processes share also carries their wake-ups
 * (work-events.ts; PostgreSQL only: a SQLite file has one process, which wakes itself).
 */
export interface Store extends WebhookOutbox, StoreInsights, CapacityLedger, SchedulingViews, TenantDirectory, Partial<WorkEvents> {
  /** Apply pending migrations. Refuses (throws) to run against a database newer than the code. */
  migrate(): Promise<void>;
  close(): Promise<void>;
  /** One round trip to the database (readiness): resolves when it answers, throws like every other call. */
  ping(): Promise<void>;

  // ---- Files (metadata only; contents live in the BlobStore under the same id) ----
  createFile(file: NewFile): Promise<FileRecord>;
  getFile(id: string): Promise<FileRecord | null>;
  /** Returns one page plus whether more files follow it. */
  listFiles(query: FileQuery): Promise<{ files: FileRecord[]; hasMore: boolean }>;
  /** Returns false when no such file existed. */
  deleteFile(id: string): Promise<boolean>;
  /**
   * Retention: deletes up to `limit` file records whose expiresAtMs has passed and returns their ids (the
   * caller then deletes their contents from the BlobStore). Safe when several processes sweep at once:
   * each id is returned to one caller only.
   */
  deleteExpiredFiles(nowMs: number, limit: number): Promise<string[]>;
  /**
   * Deletes up to `limit` cached results (migration 015) that may no longer be reused: older than their
   * Model's `notBeforeMs`, or of a Model not in `keep` (its cache was turned off). Returns how many went.
   */
  purgeResultCache(keep: readonly CachedModel[], limit: number): Promise<number>;

  // ---- Batches ----
  /** Inserts a Batch in status "validating" with zero counts. */
  createBatch(batch: NewBatch): Promise<Batch>;
  getBatch(id: string): Promise<Batch | null>;
  listBatches(query: BatchQuery): Promise<{ batches: Batch[]; hasMore: boolean }>;
  /**
   * Hides a Batch from get/list (Gemini and Anthropic delete); cancels its unfinished Items; archives an
   * ended one (its Items are then purged, see purgeArchivedItems). False if it did not exist.
   */
  deleteBatch(id: string, nowMs: number): Promise<boolean>;

  /**
   * Takes the validation Lease of one Batch in "validating" whose Lease is free or expired. The Worker then
   * streams the input, calls insertItems in chunks, and ends with startBatch or failBatch. A Worker that
   * dies mid-validation leaves its Items behind; the next claimant calls clearItems first. Counts the
   * validation Attempt (see ClaimedBatch).
   */
  claimValidation(request: BatchLeaseRequest): Promise<ClaimedBatch | null>;
  /** Extends the validation or finalization Lease held by `owner`. False if it was lost. */
  renewBatchLease(batchId: string, request: BatchLeaseRequest): Promise<boolean>;
  /** Deletes all Items of a Batch (restarting an interrupted validation). */
  clearItems(batchId: string): Promise<void>;
  /**
   * Inserts Items as "pending" (or "failed" when `result` is set), all in one transaction. They are not
   * claimable while their Batch validates: claimItems takes Items only of in_progress Batches, and
   * queuedBatches lists only those (decision 0049).
   */
  insertItems(batchId: string, items: readonly NewItem[]): Promise<void>;
  /**
   * validating -> in_progress: sets counts.total, records `errors` (skip policy), `model`, which makes its
   * pending Items claimable, atomically. If the Batch was cancelled meanwhile it stays cancelling and its
   * Items become cancelled. Returns the Batch after the change, or null if `owner` no longer holds the Lease.
   *
   * With `arrange`, the same step works out how the Batch runs (issue 10):
   * - duplicates: of Items with the same request hash, the first (lowest index) is the leader and runs; the
   *   others are its followers: pending but never claimed, and given a copy of the leader's result when it
   *   is recorded (completeItems, failExhaustedItems). Cancel and expiry treat them as the pending Items
   *   they are, so a follower never ends without a result.
   * - claim order: Items with the same prefix key are claimed together, back to back, the largest group
   *   first (ties: the group whose first Item comes first); groups of one and Items without a key last, in
   *   input order, so a Batch of unrelated prompts keeps input order. The output is still written in
   *   input order (readItems).
   * - result cache (`resultCache`, with or without `arrange`): first, pending Items of a listed Model whose tenant, dialect, kind
   *   and request hash match a cached result no older than the Model's `notBeforeMs` are finished with a
   *   copy of it: succeeded, zero usage (they cost the engine nothing), counted as reused. Duplicates of
   *   each other all take the copy. A Batch whose every Item hit the cache is ready to finalize at once.
   */
  startBatch(batchId: string, params: StartBatchParams): Promise<Batch | null>;
  /** validating -> failed with every line error; deletes its Items. Null if the Lease was lost. */
  failBatch(batchId: string, params: { owner: string; errors: LineError[]; nowMs: number }): Promise<Batch | null>;

  /**
   * validating | in_progress -> cancelling (idempotent in cancelling). Unstarted Items (pending, or staged from before decision 0049)
   * become cancelled at once; running Items finish. Returns the Batch after the change.
   * Throws AppError("conflict") for a terminal or finalizing Batch, AppError("not_found") if missing.
   */
  cancelBatch(batchId: string, nowMs: number): Promise<Batch>;
  /**
   * Of `batchIds`, those cancelled: cancelling, cancelled, or finalizing as cancelled (deleted ones too).
   * A Worker asks about the Batches whose Items it holds, so a cancel made through another process stops
   * its requests even when that process's announcement (a work event, which is not durable) never came.
   */
  cancelledBatches(batchIds: readonly string[]): Promise<string[]>;

  // ---- Items: the Worker's hot path ----
  /**
   * Claims up to `limit` pending Items of one Model, oldest Batch first — or, with `batches`, from those
   * Batches only, up to each one's limit, in that order — in each Batch's claim order (input order unless
   * startBatch arranged it), from Batches in progress; followers are never claimed. Returned in claim
   * order. Counts the Attempt and sets the Lease. Safe under concurrent claimers (no Item is handed to two
   * Workers); in PostgreSQL this is FOR UPDATE SKIP LOCKED.
   */
  claimItems(request: ClaimRequest): Promise<ClaimedItem[]>;
  /**
   * Records results. Each completion is applied only if the Item is still running under the same owner and
   * Attempt; others are ignored (returned count excludes them). Updates Batch counts and usage. A leader's
   * pending followers get a copy of its result in the same transaction, counted as succeeded or failed and
   * as reused, with zero usage (they cost the engine nothing); they are not in the returned count.
   */
  completeItems(completions: readonly ItemCompletion[], nowMs: number): Promise<number>;
  /**
   * Extends the Leases of every running Item held by `owner`. Returns how many were renewed.
   * With `items`, only those (the Items the Worker knows it holds): an Item whose claim committed but whose
   * answer never reached the Worker (a connection lost mid-claim) is then not kept alive by the heartbeat
   * forever, but expires and is reclaimed. A Store shared by processes may pass over an Item whose row
   * another transaction is changing at that moment (the Worker's own completion of it) rather than wait:
   * the next beat renews it if it is still running.
   */
  renewItemLeases(owner: string, nowMs: number, leaseMs: number, items?: readonly { batchId: string; index: number }[]): Promise<number>;
  /** Graceful shutdown: returns `owner`'s running Items (all, or those listed) to pending. */
  releaseItems(owner: string, items?: readonly { batchId: string; index: number }[]): Promise<number>;
  /** Returns running Items whose Lease expired to pending. Returns how many. */
  reclaimExpiredItems(nowMs: number): Promise<number>;
  /** Marks running Items that were claimed `maxAttempts` times and lost their Lease as failed (their followers too). */
  failExhaustedItems(maxAttempts: number, nowMs: number, result: ItemResult): Promise<number>;

  // ---- Sweeper: expiry and finalization ----
  /**
   * in_progress Batches past expiresAtMs: pending Items become expired (with `result`), the Batch stays
   * in_progress until its running Items finish; then findBatchesToFinalize reports it as "expired".
   * Returns the ids of Batches that were expired now. `result` is one value for every Item (plain data: the
   * SQLite Store may run on a thread of its own).
   */
  expireBatches(nowMs: number, result: ItemResult): Promise<string[]>;
  /**
   * Batches ready to finalize: in_progress with every Item finished, or cancelling with no running Item,
   * or finalizing with an expired Lease (an interrupted finalization). With the status they will end in.
   * With `batchIds`, only those are looked at (each by its key): the Sweeper's look after results were
   * recorded, whose cost must not grow with the number of live Batches. An in_progress Batch whose results
   * another process writes early (its results writer Lease live) is that process's to finalize: it is
   * reported only to `owner` when `owner` holds that Lease.
   */
  findBatchesToFinalize(nowMs: number, limit: number, batchIds?: readonly string[], owner?: string): Promise<{ batchId: string; status: FinalStatus }[]>;
  /**
   * Takes the finalization Lease: in_progress|cancelling -> finalizing (or re-takes an expired one). Not an
   * in_progress Batch whose results writer Lease another owner holds; the claim gives that Lease up.
   */
  claimFinalization(batchId: string, request: BatchLeaseRequest): Promise<Batch | null>;
  /**
   * Takes, or renews, the Lease on writing an in_progress Batch's result files while it runs
   * (worker/early-results.ts, decision 0061): true if `owner` holds it now. Free when nobody holds it or it
   * expired. While it lasts, only its holder finalizes the Batch from in_progress, so the files it wrote
   * are the ones used; a cancelled or expired Batch is finalized by anyone, as before.
   */
  takeResultsWriter(batchId: string, request: BatchLeaseRequest): Promise<boolean>;
  /** Gives up the results writer Lease `owner` holds on the Batch, if it holds it (it stopped writing early). */
  releaseResultsWriter(batchId: string, owner: string): Promise<void>;
  /**
   * finalizing -> completed | expired | cancelled with the result files (and their records, `files`), in one
   * transaction. Null if the Lease was lost.
   */
  finishBatch(batchId: string, owner: string, result: FinalizeResult): Promise<Batch | null>;

  /** Items of a Batch in index order, one page at a time (keyset by index). Optional status filter. */
  readItems(batchId: string, params: { afterIndex: number; limit: number; statuses?: readonly ItemStatus[] }): Promise<ItemPage>;

  /**
   * Failed Items of a terminal Batch go back to pending for another round (the "retry failed lines into the
   * same result" feature); the Batch returns to in_progress. Followers of a retried leader wait for it
   * again. By default only failures another try can fix (429, 408, 5xx, timeouts, unreachable upstream,
   * cancelled or expired while running); `all` retries every failed Item that ran. Returns the Batch, or
   * throws AppError(conflict).
   */
  retryFailedItems(batchId: string, nowMs: number, options?: RetryFailedOptions): Promise<Batch>;

  // ---- Retention (migration 020) ----
  /**
   * Archives up to `limit` ended Batches (completed, failed, expired, cancelled) created at or before
   * `createdBeforeMs` and last changed (ended) at or before `endedBeforeMs`, oldest first: `archivedAtMs` =
   * `nowMs`. From then on their results are gone to every reader and retryFailedItems refuses them;
   * purgeArchivedItems deletes their Items. Returns their ids.
   */
  archiveBatches(request: ArchiveRequest): Promise<string[]>;
  /**
   * Deletes up to `limit` Items, with their requests, of Batches archived at or before `archivedBeforeMs`,
   * oldest archive first, in index order; a Batch left with none is marked purged and not looked at again.
   * Returns how many Items were deleted.
   */
  purgeArchivedItems(archivedBeforeMs: number, limit: number): Promise<number>;
}

/** Status of a Batch as the Store keeps it; re-exported so store implementations share the CHECK list. */
export const BATCH_STATUSES: readonly BatchStatus[] = [
  "validating",
  "in_progress",
  "finalizing",
  "completed",
  "failed",
  "expired",
  "cancelling",
  "cancelled",
];

export const ITEM_STATUSES: readonly ItemStatus[] = ["staged", "pending", "running", "succeeded", "failed", "cancelled", "expired"];

/** Which ended Batches archiveBatches takes (see there). */
export interface ArchiveRequest {
  createdBeforeMs: number;
  endedBeforeMs: number;
  nowMs: number;
  limit: number;
}

export interface RetryFailedOptions {
  /** Retry every failed Item that ran, not only those another try can fix. */
  all?: boolean;
}
