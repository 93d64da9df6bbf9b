/**
 * The dashboard's JSON API for Batches: the paged list with filters, one Batch with its progress, timeline,
 * failures by code, finished results (paged, searchable by client id) and webhook deliveries, and the
 * actions (cancel, retry failed). Everything goes through the Batch service and the Store's read views;
 * every list is paged server-side, so 100k Batches or a million Items cost one page each.
 */
import type { FastifyInstance } from "fastify";
import type { AppContext } from "../../app-context.ts";
import { FINISHED_ITEM_STATUSES } from "../../batches/batch-service.ts";
import { AppError } from "../../core/errors.ts";
import type { Batch, Dialect, Item } from "../../core/types.ts";
import { listScope, type Caller } from "../../core/tenancy.ts";
import { callerOf, requireAdmin, visibleBatch } from "../shared/caller.ts";
import { storedBatchId } from "../../dialects/public-batch-id.ts";
import { batchListQuery, deliveriesQuery, parseQuery, resultsQuery, asDialect } from "./query.ts";
import { batchView, itemView, type BatchView } from "./views.ts";

type IdParams = { Params: { id: string } };

/** Line errors sent with a Batch (a failed one may list up to 10,000). */
const MAX_LINE_ERRORS = 100;
/** Failed Items read to show samples of each error code; the counts come from the Store. */
const FAILURE_SAMPLE_ITEMS = 500;
const SAMPLES_PER_CODE = 5;
/** Timeline buckets: enough for a smooth plot, few enough to read every poll. */
const TIMELINE_BUCKETS = 60;

export async function findBatch(ctx: AppContext, caller: Caller, rawId: string): Promise<Batch> {
  const batch = await visibleBatch(ctx, caller, storedBatchId(rawId));
  if (!batch) throw new AppError("not_found", `No batch ${rawId}.`, { param: "id" });
  return batch;
}

export async function batchViews(ctx: AppContext, batches: readonly Batch[]): Promise<BatchView[]> {
  const live = batches.filter((batch) => batch.status === "in_progress" || batch.status === "cancelling").map((batch) => batch.id);
  const [running, forecasts] = await Promise.all([live.length > 0 ? ctx.store.countRunningItems(live) : ({} as Record<string, number>), ctx.batches.forecasts(batches)]);
  const nowMs = ctx.clock.now();
  return batches.map((batch) => batchView(batch, running[batch.id] ?? 0, nowMs, forecasts.get(batch.id) ?? null));
}

export async function registerBatchRoutes(app: FastifyInstance, ctx: AppContext): Promise<void> {
  const dialects = Object.keys(ctx.formats) as Dialect[];

  app.get("/api/overview", async (request) => ({
    // Counts over every tenant are an admin's view; a member sees its own in the list below.
    counts: callerOf(request).role === "admin" ? await ctx.store.countBatchesByStatus() : {},
    tenant: callerOf(request).tenant,
    role: callerOf(request).role,
    dialects,
    models: ctx.catalog.names(),
    webhooks: callerOf(request).role === "admin" ? ctx.config.webhooks.map((webhook) => webhook.url) : [],
    nowMs: ctx.clock.now(),
  }));

  app.get("/api/batches", async (request) => {
    const query = parseQuery(batchListQuery, request.query);
    const { batches, hasMore } = await ctx.batches.list({ tenant: listScope(callerOf(request)), afterId: query.after, limit: query.limit, statuses: query.status, model: query.model, dialect: asDialect(query.dialect, dialects) });
    return { batches: await batchViews(ctx, batches), hasMore, next: hasMore ? (batches.at(-1)?.id ?? null) : null };
  });

  app.get<IdParams>("/api/batches/:id", async (request) => {
    const batch = await findBatch(ctx, callerOf(request), request.params.id);
    const [view] = await batchViews(ctx, [batch]);
    return { batch: view, lineErrors: (batch.errors ?? []).slice(0, MAX_LINE_ERRORS), lineErrorCount: batch.errors?.length ?? 0 };
  });

  app.get<IdParams>("/api/batches/:id/timeline", async (request) => {
    const batch = await findBatch(ctx, callerOf(request), request.params.id);
    if (batch.inProgressAtMs === null) return { startMs: null, bucketMs: null, buckets: [] };
    const endMs = batch.finalizingAtMs ?? batch.cancelledAtMs ?? batch.expiredAtMs ?? ctx.clock.now();
    // Whole seconds once a Batch runs for minutes; down to a quarter second for a short one.
    const rawMs = (endMs - batch.inProgressAtMs) / TIMELINE_BUCKETS;
    const bucketMs = rawMs >= 1_000 ? Math.ceil(rawMs / 1_000) * 1_000 : Math.max(250, Math.ceil(rawMs / 250) * 250);
    const buckets = await ctx.store.batchTimeline(batch.id, { startMs: batch.inProgressAtMs, bucketMs });
    return { startMs: batch.inProgressAtMs, bucketMs, buckets };
  });

  app.get<IdParams>("/api/batches/:id/failures", async (request) => {
    const batch = await findBatch(ctx, callerOf(request), request.params.id);
    // Archived (retention): its Items are gone or going; the page says so instead of showing a part.
    if (batch.archivedAtMs !== null) return { groups: [] };
    const [counts, page] = await Promise.all([
      ctx.store.countFailuresByCode(batch.id),
      ctx.store.readItems(batch.id, { afterIndex: -1, limit: FAILURE_SAMPLE_ITEMS, statuses: ["failed"] }),
    ]);
    const samples = new Map<string, ReturnType<typeof itemView>[]>();
    for (const item of page.items.map(itemView)) {
      const code = item.errorCode ?? "unknown";
      const list = samples.get(code) ?? [];
      if (list.length < SAMPLES_PER_CODE) list.push(item);
      samples.set(code, list);
    }
    return { groups: counts.map(({ code, count }) => ({ code, count, samples: samples.get(code) ?? [] })) };
  });

  app.get<IdParams>("/api/batches/:id/results", async (request) => {
    const batch = await findBatch(ctx, callerOf(request), request.params.id);
    const query = parseQuery(resultsQuery, request.query);
    if (batch.archivedAtMs !== null) return { items: [], next: null };
    if (query.q !== undefined && query.q !== "") {
      const items = await ctx.store.findItemsByClientId(batch.id, query.q, query.limit);
      return { items: items.map(itemView), next: null };
    }
    const page = await ctx.store.readItems(batch.id, { afterIndex: query.after, limit: query.limit, statuses: query.status ? [query.status] : FINISHED_ITEM_STATUSES });
    return { items: page.items.map((item: Item) => itemView(item)), next: page.nextAfterIndex };
  });

  app.get<IdParams>("/api/batches/:id/webhooks", async (request) => {
    const batch = await findBatch(ctx, callerOf(request), request.params.id);
    return ctx.store.listWebhookDeliveries({ batchId: batch.id, limit: 50 });
  });

  app.get("/api/webhooks", async (request) => {
    // Webhook endpoints are configured for the deployment, not per tenant: their log is an admin's.
    requireAdmin(callerOf(request));
    const query = parseQuery(deliveriesQuery, request.query);
    return ctx.store.listWebhookDeliveries({ beforeSeq: query.before, limit: query.limit });
  });

  app.post<IdParams>("/api/batches/:id/cancel", async (request) => {
    const batch = await ctx.batches.cancel((await findBatch(ctx, callerOf(request), request.params.id)).id);
    return { batch: (await batchViews(ctx, [batch]))[0] };
  });

  app.post<IdParams>("/api/batches/:id/retry", async (request) => {
    // A person chose this after seeing the errors grouped by code: every failed request runs again.
    const batch = await ctx.batches.retryFailed((await findBatch(ctx, callerOf(request), request.params.id)).id, { all: true });
    return { batch: (await batchViews(ctx, [batch]))[0] };
  });
}
