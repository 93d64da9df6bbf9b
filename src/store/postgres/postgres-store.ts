/**
 * The scale-out Store: many spool processes (API and Workers, on any number of machines) share one
 * PostgreSQL database. Each instance owns a `pg` Pool bound to one schema. The SQL lives in the *-sql.ts
 * modules, one concern each, mirroring src/store/sqlite/ so the two can be read side by side.
 *
 * Isolation is READ COMMITTED throughout. Safety under concurrency comes from three habits:
 * - the hot paths are single statements (claim, complete, renew), each guarded by the state it expects;
 *   PostgreSQL re-checks the guard against the latest row version when rows changed under it;
 * - the Item claim skips rows another claimer holds (FOR UPDATE SKIP LOCKED, see items-sql.ts);
 * - multi-statement transitions lock the Batch row before touching its Items (see batches-sql.ts), and
 *   deadlocks between the rare transactions that take locks in another order are retried whole.
 */
import { ClaimHints } from "./claim-hints.ts";
import type { Batch, BatchStatus, FileRecord, Item, ItemResult, ItemStatus, LineError } from "../../core/types.ts";
import type {
  ArchiveRequest,
  BatchLeaseRequest,
  BatchQuery,
  CachedModel,
  ClaimedBatch,
  ClaimedItem,
  ClaimRequest,
  FileQuery,
  FinalizeResult,
  FinalStatus,
  ItemCompletion,
  ItemPage,
  NewBatch,
  NewFile,
  NewItem,
  RetryFailedOptions,
  StartBatchParams,
  Store,
} from "../store.ts";
import * as lifecycle from "./batch-lifecycle-sql.ts";
import * as batches from "./batches-sql.ts";
import * as capacity from "./capacity-sql.ts";
import { PostgresDatabase, type PostgresDatabaseOptions } from "./database.ts";
import * as files from "./files-sql.ts";
import * as leases from "./item-leases-sql.ts";
import * as items from "./items-sql.ts";
import * as insights from "./insights-sql.ts";
import * as scheduling from "./scheduling-sql.ts";
import * as resultCache from "./result-cache-sql.ts";
import { migrate } from "./migrate.ts";
import * as retention from "./retention-sql.ts";
import * as tenants from "./tenants-sql.ts";
import * as webhooks from "./webhooks-sql.ts";
import type { ApiKeyRecord, Quotas, TenantRecord, TenantUsage } from "../../core/tenancy.ts";
import type { NewApiKey } from "../tenant-directory.ts";
import type { FailureCount, ModelQueue, TimelineBucket } from "../store-insights.ts";
import type { CapacityBeat, CapacityClaim } from "../capacity-ledger.ts";
import type { ModelThroughput, QueuedBatch } from "../scheduling-views.ts";
import type { WebhookAttemptOutcome, WebhookClaim, WebhookDelivery, WebhookDeliveryQuery } from "../webhook-outbox.ts";
import type { WorkEventFeed, WorkEventFeedOptions, WorkEventKind, WorkEventListener } from "../work-events.ts";
import { announcement, channelFor, openWorkEventFeed } from "./work-events-pg.ts";
import { randomToken } from "../../core/ids.ts";

/** Longest an announcement (or the feed's hearing check) may take before it is given up. */
const NOTIFY_TIMEOUT_MS = 5_000;

export class PostgresStore implements Store {
  /** Where this process's claims of each Batch ended (claim-hints.ts). */
  private readonly claimHints = new ClaimHints();
  /** Signs this Store's work announcements, so its own feed skips them (work-events-pg.ts). */
  private readonly origin = randomToken(12);
  private readonly channel: string;
  /** Announcements under way: close() lets them finish, so none meets an ended pool (which would read as an outage). */
  private readonly announcing = new Set<Promise<void>>();
  private closing = false;

  constructor(readonly db: PostgresDatabase) {
    this.channel = channelFor(db.schema);
  }

  /** Other processes on this schema hear about Batches created, started and cancelled here (decision 0046). */
  listenForWork(listener: WorkEventListener, options: WorkEventFeedOptions = {}): Promise<WorkEventFeed> {
    return openWorkEventFeed(listener, {
      ...options,
      channel: this.channel,
      origin: this.origin,
      newClient: (queryTimeoutMs) => this.db.listenerClient(queryTimeoutMs),
      notify: (payload) => this.db.notify(this.channel, payload, NOTIFY_TIMEOUT_MS),
      target: this.db.listenTarget,
      logger: this.db.logger,
    });
  }

  /**
   * Tells the listening processes, after the change committed. Not awaited by the change: a lost
   * announcement costs the others a poll interval, and must not fail (or slow) what was already saved.
   */
  private announce(kind: WorkEventKind, batchId: string | null): void {
    if (this.closing) return;
    const sent = this.db.notify(this.channel, announcement(kind, batchId, this.origin), NOTIFY_TIMEOUT_MS).then(
      () => undefined,
      () => undefined,
    );
    this.announcing.add(sent);
    void sent.then(() => this.announcing.delete(sent));
  }

  async migrate(): Promise<void> {
    // The ledger's applied_at_ms is bookkeeping about this process, not domain time: the wall clock is right.
    await migrate(this.db, Date.now());
  }

  async close(): Promise<void> {
    this.closing = true;
    await Promise.all(this.announcing);
    await this.db.close();
  }

  async ping(): Promise<void> {
    await this.db.query("SELECT 1");
  }

  createFile(file: NewFile): Promise<FileRecord> {
    return files.createFile(this.db, file);
  }
  getFile(id: string): Promise<FileRecord | null> {
    return files.getFile(this.db, id);
  }
  listFiles(query: FileQuery): Promise<{ files: FileRecord[]; hasMore: boolean }> {
    return files.listFiles(this.db, query);
  }
  deleteFile(id: string): Promise<boolean> {
    return files.deleteFile(this.db, id);
  }

  deleteExpiredFiles(nowMs: number, limit: number): Promise<string[]> {
    return files.deleteExpiredFiles(this.db, nowMs, limit);
  }

  purgeResultCache(keep: readonly CachedModel[], limit: number): Promise<number> {
    return resultCache.purgeResultCache(this.db, keep, limit);
  }

  async createBatch(batch: NewBatch): Promise<Batch> {
    const created = await batches.createBatch(this.db, batch);
    this.announce("created", created.id);
    return created;
  }
  getBatch(id: string): Promise<Batch | null> {
    return batches.getBatch(this.db, id);
  }
  listBatches(query: BatchQuery): Promise<{ batches: Batch[]; hasMore: boolean }> {
    return batches.listBatches(this.db, query);
  }
  async deleteBatch(id: string, nowMs: number): Promise<boolean> {
    const deleted = await batches.deleteBatch(this.db, id, nowMs);
    if (deleted) this.announce("cancelled", id);
    return deleted;
  }
  async cancelBatch(batchId: string, nowMs: number): Promise<Batch> {
    const batch = await batches.cancelBatch(this.db, batchId, nowMs);
    this.announce("cancelled", batchId);
    return batch;
  }
  cancelledBatches(batchIds: readonly string[]): Promise<string[]> {
    return batches.cancelledBatches(this.db, batchIds);
  }

  claimValidation(request: BatchLeaseRequest): Promise<ClaimedBatch | null> {
    return lifecycle.claimValidation(this.db, request);
  }
  renewBatchLease(batchId: string, request: BatchLeaseRequest): Promise<boolean> {
    return lifecycle.renewBatchLease(this.db, batchId, request);
  }
  clearItems(batchId: string): Promise<void> {
    return items.clearItems(this.db, batchId);
  }
  insertItems(batchId: string, newItems: readonly NewItem[]): Promise<void> {
    return items.insertItems(this.db, batchId, newItems);
  }
  async startBatch(batchId: string, params: StartBatchParams): Promise<Batch | null> {
    const batch = await lifecycle.startBatch(this.db, batchId, params);
    if (batch?.status === "in_progress") this.announce("claimable", batchId);
    return batch;
  }
  failBatch(batchId: string, params: { owner: string; errors: LineError[]; nowMs: number }): Promise<Batch | null> {
    return lifecycle.failBatch(this.db, batchId, params);
  }

  claimItems(request: ClaimRequest): Promise<ClaimedItem[]> {
    return items.claimItems(this.db, request, this.claimHints);
  }
  async completeItems(completions: readonly ItemCompletion[], nowMs: number): Promise<number> {
    const { applied, handed } = await items.completeItems(this.db, completions, nowMs);
    for (const batchId of handed) this.announce("finished", batchId);
    return applied;
  }
  renewItemLeases(owner: string, nowMs: number, leaseMs: number, items?: readonly { batchId: string; index: number }[]): Promise<number> {
    return leases.renewItemLeases(this.db, owner, nowMs, leaseMs, items);
  }
  // The three ways Items go back to pending: the next claims must walk from each Batch's start (claim-hints.ts).
  async releaseItems(owner: string, released?: readonly { batchId: string; index: number }[]): Promise<number> {
    const count = await leases.releaseItems(this.db, owner, released);
    this.claimHints.clear();
    if (count > 0) this.announce("claimable", null);
    return count;
  }
  async reclaimExpiredItems(nowMs: number): Promise<number> {
    const count = await leases.reclaimExpiredItems(this.db, nowMs);
    if (count > 0) {
      this.claimHints.clear();
      this.announce("claimable", null);
    }
    return count;
  }
  failExhaustedItems(maxAttempts: number, nowMs: number, result: ItemResult): Promise<number> {
    return leases.failExhaustedItems(this.db, maxAttempts, nowMs, result);
  }

  expireBatches(nowMs: number, result: ItemResult): Promise<string[]> {
    return lifecycle.expireBatches(this.db, nowMs, result);
  }
  findBatchesToFinalize(nowMs: number, limit: number, batchIds?: readonly string[], owner?: string): Promise<{ batchId: string; status: FinalStatus }[]> {
    return lifecycle.findBatchesToFinalize(this.db, nowMs, limit, batchIds, owner);
  }
  claimFinalization(batchId: string, request: BatchLeaseRequest): Promise<Batch | null> {
    return lifecycle.claimFinalization(this.db, batchId, request);
  }
  takeResultsWriter(batchId: string, request: BatchLeaseRequest): Promise<boolean> {
    return lifecycle.takeResultsWriter(this.db, batchId, request);
  }
  releaseResultsWriter(batchId: string, owner: string): Promise<void> {
    return lifecycle.releaseResultsWriter(this.db, batchId, owner);
  }
  finishBatch(batchId: string, owner: string, result: FinalizeResult): Promise<Batch | null> {
    return lifecycle.finishBatch(this.db, batchId, owner, result);
  }
  readItems(batchId: string, params: { afterIndex: number; limit: number; statuses?: readonly ItemStatus[] }): Promise<ItemPage> {
    return items.readItems(this.db, batchId, params);
  }
  async retryFailedItems(batchId: string, nowMs: number, options: RetryFailedOptions = {}): Promise<Batch> {
    const batch = await lifecycle.retryFailedItems(this.db, batchId, nowMs, options);
    this.claimHints.clear();
    this.announce("claimable", batchId);
    return batch;
  }
  async archiveBatches(params: ArchiveRequest): Promise<string[]> {
    return retention.archiveBatches(this.db, params);
  }

  async purgeArchivedItems(archivedBeforeMs: number, limit: number): Promise<number> {
    return retention.purgeArchivedItems(this.db, archivedBeforeMs, limit);
  }


  syncWebhookEndpoints(urls: readonly string[], nowMs: number): Promise<void> {
    return webhooks.syncWebhookEndpoints(this.db, urls, nowMs);
  }
  claimWebhookDeliveries(claim: WebhookClaim): Promise<WebhookDelivery[]> {
    return webhooks.claimWebhookDeliveries(this.db, claim);
  }
  recordWebhookAttempt(id: string, owner: string, outcome: WebhookAttemptOutcome): Promise<boolean> {
    return webhooks.recordWebhookAttempt(this.db, id, owner, outcome);
  }
  listWebhookDeliveries(query: WebhookDeliveryQuery): Promise<{ deliveries: WebhookDelivery[]; hasMore: boolean }> {
    return webhooks.listWebhookDeliveries(this.db, query);
  }

  beatCapacity(beat: CapacityBeat): Promise<readonly CapacityClaim[]> {
    return capacity.beatCapacity(this.db, beat);
  }
  leaveCapacity(owner: string): Promise<void> {
    return capacity.leaveCapacity(this.db, owner);
  }

  countBatchesByStatus(): Promise<Record<BatchStatus, number>> {
    return insights.countBatchesByStatus(this.db);
  }
  queueStats(): Promise<ModelQueue[]> {
    return insights.queueStats(this.db);
  }
  batchTimeline(batchId: string, params: { startMs: number; bucketMs: number }): Promise<TimelineBucket[]> {
    return insights.batchTimeline(this.db, batchId, params);
  }
  countFailuresByCode(batchId: string): Promise<FailureCount[]> {
    return insights.countFailuresByCode(this.db, batchId);
  }
  countRunningItems(batchIds: readonly string[]): Promise<Record<string, number>> {
    return insights.countRunningItems(this.db, batchIds);
  }
  findItemsByClientId(batchId: string, prefix: string, limit: number): Promise<Item[]> {
    return insights.findItemsByClientId(this.db, batchId, prefix, limit);
  }

  queuedBatches(model: string, limit: number): Promise<QueuedBatch[]> {
    return scheduling.queuedBatches(this.db, model, limit);
  }
  recordThroughput(report: { owner: string; model: string; itemsPerSecond: number; nowMs: number }): Promise<void> {
    return scheduling.recordThroughput(this.db, report);
  }
  modelThroughput(model: string, spanMs: number): Promise<ModelThroughput | null> {
    return scheduling.modelThroughput(this.db, model, spanMs);
  }
  // ---- Tenants and keys (tenant-directory.ts) ----
  async ensureTenant(name: string, nowMs: number): Promise<TenantRecord> {
    return tenants.ensureTenant(this.db, name, nowMs);
  }
  async setTenantQuotas(name: string, quotas: Quotas | null, nowMs: number): Promise<TenantRecord> {
    return tenants.setTenantQuotas(this.db, name, quotas, nowMs);
  }
  async getTenant(name: string): Promise<TenantRecord | null> {
    return tenants.getTenant(this.db, name);
  }
  async listTenants(): Promise<TenantRecord[]> {
    return tenants.listTenants(this.db);
  }
  async createApiKey(key: NewApiKey): Promise<ApiKeyRecord> {
    return tenants.createApiKey(this.db, key);
  }
  async findApiKey(sha256: string): Promise<ApiKeyRecord | null> {
    return tenants.findApiKey(this.db, sha256);
  }
  async findApiKeyById(id: string): Promise<(ApiKeyRecord & { sha256: string }) | null> {
    return tenants.findApiKeyById(this.db, id);
  }
  async listApiKeys(tenant?: string): Promise<ApiKeyRecord[]> {
    return tenants.listApiKeys(this.db, tenant ?? null);
  }
  async revokeApiKey(id: string, nowMs: number): Promise<ApiKeyRecord | null> {
    return tenants.revokeApiKey(this.db, id, nowMs);
  }
  async countApiKeys(): Promise<number> {
    return tenants.countApiKeys(this.db);
  }
  async tenantUsage(tenant: string): Promise<TenantUsage> {
    return tenants.tenantUsage(this.db, tenant);
  }
  async tenantLiveWork(tenant: string): Promise<Pick<TenantUsage, "queuedItems" | "batchesInProgress">> {
    return tenants.tenantLiveWork(this.db, tenant);
  }
  async findBatchByIdempotencyKey(tenant: string, key: string): Promise<(Batch & { requestDigest: string | null }) | null> {
    return tenants.findBatchByIdempotencyKey(this.db, tenant, key);
  }
  async usageByTenant(): Promise<TenantUsage[]> {
    const names = await tenants.tenantNames(this.db);
    return Promise.all(names.map((name) => this.tenantUsage(name)));
  }
}

/**
 * Opens a pool on `url` with every connection's search_path set to `options.schema` (default "public";
 * created if missing when migrate() runs). Nothing is queried until the first call; call migrate() first.
 */
export async function openPostgresStore(url: string, options: PostgresDatabaseOptions = {}): Promise<PostgresStore> {
  return new PostgresStore(new PostgresDatabase(url, options));
}
