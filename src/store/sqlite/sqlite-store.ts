/**
 * The embedded Store: one SQLite file (WAL) that the API process and any `spool worker` processes on the
 * same machine may open together. better-sqlite3 is synchronous; the contract is async so that the
 * PostgreSQL Store fits the same shape. The SQL lives in the *-sql.ts modules, one concern each.
 * Every operation runs through SqliteDatabase.guard: a full disk answers AppError("insufficient_storage").
 */
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
import { SqliteDatabase } from "./database.ts";
import * as files from "./files-sql.ts";
import * as leases from "./item-leases-sql.ts";
import * as items from "./items-sql.ts";
import * as insights from "./insights-sql.ts";
import * as scheduling from "./scheduling-sql.ts";
import * as resultCache from "./result-cache-sql.ts";
import * as retention from "./retention-sql.ts";
import { migrate } from "./migrate.ts";
import * as tenants from "./tenants-sql.ts";
import * as webhooks from "./webhooks-sql.ts";
import type { ApiKeyRecord, Quotas, TenantRecord, TenantUsage } from "../../core/tenancy.ts";
import type { NewApiKey } from "../tenant-directory.ts";
import type { FailureCount, ModelQueue, TimelineBucket } from "../store-insights.ts";
import type { CapacityBeat, CapacityClaim } from "../capacity-ledger.ts";
import type { ModelThroughput, QueuedBatch } from "../scheduling-views.ts";
import type { WebhookAttemptOutcome, WebhookClaim, WebhookDelivery, WebhookDeliveryQuery } from "../webhook-outbox.ts";
import type { StoreLogger } from "../shared/store-logger.ts";

export class SqliteStore implements Store {
  constructor(private readonly db: SqliteDatabase) {}

  async migrate(): Promise<void> {
    // The ledger's applied_at_ms is bookkeeping about this process, not domain time: the wall clock is right.
    this.db.guard(() => migrate(this.db, Date.now()));
  }

  async close(): Promise<void> {
    this.db.close();
  }

  async ping(): Promise<void> {
    this.db.guard(() => this.db.statement("SELECT 1").get());
  }

  async createFile(file: NewFile): Promise<FileRecord> {
    return this.db.guard(() => files.createFile(this.db, file));
  }
  async getFile(id: string): Promise<FileRecord | null> {
    return this.db.guard(() => files.getFile(this.db, id));
  }
  async listFiles(query: FileQuery): Promise<{ files: FileRecord[]; hasMore: boolean }> {
    return this.db.guard(() => files.listFiles(this.db, query));
  }
  async deleteFile(id: string): Promise<boolean> {
    return this.db.guard(() => files.deleteFile(this.db, id));
  }

  async deleteExpiredFiles(nowMs: number, limit: number): Promise<string[]> {
    return this.db.guard(() => files.deleteExpiredFiles(this.db, nowMs, limit));
  }

  async purgeResultCache(keep: readonly CachedModel[], limit: number): Promise<number> {
    return this.db.guard(() => resultCache.purgeResultCache(this.db, keep, limit));
  }

  async createBatch(batch: NewBatch): Promise<Batch> {
    return this.db.guard(() => batches.createBatch(this.db, batch));
  }
  async getBatch(id: string): Promise<Batch | null> {
    return this.db.guard(() => batches.getBatch(this.db, id));
  }
  async listBatches(query: BatchQuery): Promise<{ batches: Batch[]; hasMore: boolean }> {
    return this.db.guard(() => batches.listBatches(this.db, query));
  }
  async deleteBatch(id: string, nowMs: number): Promise<boolean> {
    return this.db.guard(() => batches.deleteBatch(this.db, id, nowMs));
  }
  async cancelBatch(batchId: string, nowMs: number): Promise<Batch> {
    return this.db.guard(() => batches.cancelBatch(this.db, batchId, nowMs));
  }
  async cancelledBatches(batchIds: readonly string[]): Promise<string[]> {
    return this.db.guard(() => batches.cancelledBatches(this.db, batchIds));
  }

  async claimValidation(request: BatchLeaseRequest): Promise<ClaimedBatch | null> {
    return this.db.guard(() => lifecycle.claimValidation(this.db, request));
  }
  async renewBatchLease(batchId: string, request: BatchLeaseRequest): Promise<boolean> {
    return this.db.guard(() => lifecycle.renewBatchLease(this.db, batchId, request));
  }
  async clearItems(batchId: string): Promise<void> {
    this.db.guard(() => items.clearItems(this.db, batchId));
  }
  async insertItems(batchId: string, newItems: readonly NewItem[]): Promise<void> {
    this.db.guard(() => items.insertItems(this.db, batchId, newItems));
  }
  async startBatch(batchId: string, params: StartBatchParams): Promise<Batch | null> {
    return this.db.guard(() => lifecycle.startBatch(this.db, batchId, params));
  }
  async failBatch(batchId: string, params: { owner: string; errors: LineError[]; nowMs: number }): Promise<Batch | null> {
    return this.db.guard(() => lifecycle.failBatch(this.db, batchId, params));
  }

  async claimItems(request: ClaimRequest): Promise<ClaimedItem[]> {
    return this.db.guard(() => items.claimItems(this.db, request));
  }
  async completeItems(completions: readonly ItemCompletion[], nowMs: number): Promise<number> {
    return this.db.guard(() => items.completeItems(this.db, completions, nowMs));
  }
  async renewItemLeases(owner: string, nowMs: number, leaseMs: number, items?: readonly { batchId: string; index: number }[]): Promise<number> {
    return this.db.guard(() => leases.renewItemLeases(this.db, owner, nowMs, leaseMs, items));
  }
  async releaseItems(owner: string, released?: readonly { batchId: string; index: number }[]): Promise<number> {
    return this.db.guard(() => leases.releaseItems(this.db, owner, released));
  }
  async reclaimExpiredItems(nowMs: number): Promise<number> {
    return this.db.guard(() => leases.reclaimExpiredItems(this.db, nowMs));
  }
  async failExhaustedItems(maxAttempts: number, nowMs: number, result: ItemResult): Promise<number> {
    return this.db.guard(() => leases.failExhaustedItems(this.db, maxAttempts, nowMs, result));
  }

  async expireBatches(nowMs: number, result: ItemResult): Promise<string[]> {
    return this.db.guard(() => lifecycle.expireBatches(this.db, nowMs, result));
  }
  async findBatchesToFinalize(nowMs: number, limit: number, batchIds?: readonly string[], owner?: string): Promise<{ batchId: string; status: FinalStatus }[]> {
    return this.db.guard(() => lifecycle.findBatchesToFinalize(this.db, nowMs, limit, batchIds, owner));
  }
  async claimFinalization(batchId: string, request: BatchLeaseRequest): Promise<Batch | null> {
    return this.db.guard(() => lifecycle.claimFinalization(this.db, batchId, request));
  }
  async takeResultsWriter(batchId: string, request: BatchLeaseRequest): Promise<boolean> {
    return this.db.guard(() => lifecycle.takeResultsWriter(this.db, batchId, request));
  }
  async releaseResultsWriter(batchId: string, owner: string): Promise<void> {
    this.db.guard(() => lifecycle.releaseResultsWriter(this.db, batchId, owner));
  }
  async finishBatch(batchId: string, owner: string, result: FinalizeResult): Promise<Batch | null> {
    return this.db.guard(() => lifecycle.finishBatch(this.db, batchId, owner, result));
  }
  async readItems(batchId: string, params: { afterIndex: number; limit: number; statuses?: readonly ItemStatus[] }): Promise<ItemPage> {
    return this.db.guard(() => items.readItems(this.db, batchId, params));
  }
  async retryFailedItems(batchId: string, nowMs: number, options: RetryFailedOptions = {}): Promise<Batch> {
    return this.db.guard(() => lifecycle.retryFailedItems(this.db, batchId, nowMs, options));
  }

  async archiveBatches(params: ArchiveRequest): Promise<string[]> {
    return this.db.guard(() => retention.archiveBatches(this.db, params));
  }

  async purgeArchivedItems(archivedBeforeMs: number, limit: number): Promise<number> {
    return this.db.guard(() => retention.purgeArchivedItems(this.db, archivedBeforeMs, limit));
  }

  async syncWebhookEndpoints(urls: readonly string[], nowMs: number): Promise<void> {
    this.db.guard(() => webhooks.syncWebhookEndpoints(this.db, urls, nowMs));
  }
  async claimWebhookDeliveries(claim: WebhookClaim): Promise<WebhookDelivery[]> {
    return this.db.guard(() => webhooks.claimWebhookDeliveries(this.db, claim));
  }
  async recordWebhookAttempt(id: string, owner: string, outcome: WebhookAttemptOutcome): Promise<boolean> {
    return this.db.guard(() => webhooks.recordWebhookAttempt(this.db, id, owner, outcome));
  }
  async listWebhookDeliveries(query: WebhookDeliveryQuery): Promise<{ deliveries: WebhookDelivery[]; hasMore: boolean }> {
    return this.db.guard(() => webhooks.listWebhookDeliveries(this.db, query));
  }

  async beatCapacity(beat: CapacityBeat): Promise<readonly CapacityClaim[]> {
    return this.db.guard(() => capacity.beatCapacity(this.db, beat));
  }
  async leaveCapacity(owner: string): Promise<void> {
    this.db.guard(() => capacity.leaveCapacity(this.db, owner));
  }

  async countBatchesByStatus(): Promise<Record<BatchStatus, number>> {
    return this.db.guard(() => insights.countBatchesByStatus(this.db));
  }
  async queueStats(): Promise<ModelQueue[]> {
    return this.db.guard(() => insights.queueStats(this.db));
  }
  async batchTimeline(batchId: string, params: { startMs: number; bucketMs: number }): Promise<TimelineBucket[]> {
    return this.db.guard(() => insights.batchTimeline(this.db, batchId, params));
  }
  async countFailuresByCode(batchId: string): Promise<FailureCount[]> {
    return this.db.guard(() => insights.countFailuresByCode(this.db, batchId));
  }
  async countRunningItems(batchIds: readonly string[]): Promise<Record<string, number>> {
    return this.db.guard(() => insights.countRunningItems(this.db, batchIds));
  }
  async findItemsByClientId(batchId: string, prefix: string, limit: number): Promise<Item[]> {
    return this.db.guard(() => insights.findItemsByClientId(this.db, batchId, prefix, limit));
  }

  async queuedBatches(model: string, limit: number): Promise<QueuedBatch[]> {
    return this.db.guard(() => scheduling.queuedBatches(this.db, model, limit));
  }
  async recordThroughput(report: { owner: string; model: string; itemsPerSecond: number; nowMs: number }): Promise<void> {
    this.db.guard(() => scheduling.recordThroughput(this.db, report));
  }
  async modelThroughput(model: string, spanMs: number): Promise<ModelThroughput | null> {
    return this.db.guard(() => scheduling.modelThroughput(this.db, model, spanMs));
  }
  // ---- Tenants and keys (tenant-directory.ts) ----
  async ensureTenant(name: string, nowMs: number): Promise<TenantRecord> {
    return this.db.guard(() => tenants.ensureTenant(this.db, name, nowMs));
  }
  async setTenantQuotas(name: string, quotas: Quotas | null, nowMs: number): Promise<TenantRecord> {
    return this.db.guard(() => tenants.setTenantQuotas(this.db, name, quotas, nowMs));
  }
  async getTenant(name: string): Promise<TenantRecord | null> {
    return this.db.guard(() => tenants.getTenant(this.db, name));
  }
  async listTenants(): Promise<TenantRecord[]> {
    return this.db.guard(() => tenants.listTenants(this.db));
  }
  async createApiKey(key: NewApiKey): Promise<ApiKeyRecord> {
    return this.db.guard(() => tenants.createApiKey(this.db, key));
  }
  async findApiKey(sha256: string): Promise<ApiKeyRecord | null> {
    return this.db.guard(() => tenants.findApiKey(this.db, sha256));
  }
  async findApiKeyById(id: string): Promise<(ApiKeyRecord & { sha256: string }) | null> {
    return this.db.guard(() => tenants.findApiKeyById(this.db, id));
  }
  async listApiKeys(tenant?: string): Promise<ApiKeyRecord[]> {
    return this.db.guard(() => tenants.listApiKeys(this.db, tenant ?? null));
  }
  async revokeApiKey(id: string, nowMs: number): Promise<ApiKeyRecord | null> {
    return this.db.guard(() => tenants.revokeApiKey(this.db, id, nowMs));
  }
  async countApiKeys(): Promise<number> {
    return this.db.guard(() => tenants.countApiKeys(this.db));
  }
  async tenantUsage(tenant: string): Promise<TenantUsage> {
    return this.db.guard(() => tenants.tenantUsage(this.db, tenant));
  }
  async tenantLiveWork(tenant: string): Promise<Pick<TenantUsage, "queuedItems" | "batchesInProgress">> {
    return this.db.guard(() => tenants.tenantLiveWork(this.db, tenant));
  }
  async findBatchByIdempotencyKey(tenant: string, key: string): Promise<(Batch & { requestDigest: string | null }) | null> {
    return this.db.guard(() => tenants.findBatchByIdempotencyKey(this.db, tenant, key));
  }
  async usageByTenant(): Promise<TenantUsage[]> {
    const names = await this.db.guard(() => tenants.tenantNames(this.db));
    return Promise.all(names.map((name) => this.tenantUsage(name)));
  }
}

/** Opens (creating if needed) the SQLite Store at `filePath`. Call migrate() before use. */
export async function openSqliteStore(filePath: string, options: { logger?: StoreLogger } = {}): Promise<Store> {
  return new SqliteStore(new SqliteDatabase(filePath, options));

}
