/** Batches API: create, retrieve, list, cancel, plus spool's progress extension. */
import type { FastifyInstance } from "fastify";
import type { AppContext } from "../../app-context.ts";
import { AppError } from "../../core/errors.ts";
import { newBatchId } from "../../core/ids.ts";
import { Readable } from "node:stream";
import type { Batch, ItemStatus } from "../../core/types.ts";
import { isTerminal } from "../../core/types.ts";
import { openAIBatchFormat } from "../../dialects/openai/batch-format.ts";
import { isSupportedEndpoint, KIND_BY_ENDPOINT, SUPPORTED_ENDPOINTS } from "../../dialects/openai/endpoints.ts";
import { findFile, unknownCursor, type RouteOptions } from "./files-routes.ts";
import { toCursorPage, toOpenAIBatch, toOpenAIBatchProgress } from "../../dialects/openai/mappers.ts";
import { findByCandidates, idCandidates } from "../../dialects/openai/path-ids.ts";
import { createBatchSchema, listBatchesQuerySchema, parseWire } from "../../dialects/openai/schemas.ts";

type IdParams = { Params: { id: string } };

export async function registerBatchRoutes(app: FastifyInstance, ctx: AppContext, options: RouteOptions): Promise<void> {
  app.post("/batches", async (request) => toOpenAIBatch(await createBatch(ctx, request.body, options)));

  app.get("/batches", async (request) => {
    const query = parseWire(listBatchesQuerySchema, request.query, "query");
    const { batches, hasMore } = await ctx.store.listBatches({ dialect: "openai", afterId: query.after, limit: query.limit });
    if (query.after !== undefined && batches.length === 0 && (await ctx.store.getBatch(query.after))?.dialect !== "openai") throw unknownCursor(query.after, "batch");
    return toCursorPage(batches.map(toOpenAIBatch), hasMore);
  });

  const retrieve = async (rawId: string) => toOpenAIBatch(await findBatch(ctx, rawId, options));
  const progress = async (rawId: string) => toOpenAIBatchProgress(await findBatch(ctx, rawId, options), ctx.clock.now());
  const cancel = async (rawId: string) => toOpenAIBatch(await cancelBatch(ctx, rawId, options));
  // spool extension: run the failed requests of a finished batch again; their new results replace the old
  // ones in the same output, so users never merge result files by hand.
  const retryFailed = async (rawId: string) => {
    const batch = await findBatch(ctx, rawId, options);
    const retried = await ctx.store.retryFailedItems(batch.id, ctx.clock.now());
    ctx.notifyWork();
    return toOpenAIBatch(retried);
  };

  app.get<IdParams>("/batches/:id", async (request) => retrieve(request.params.id));
  app.get<IdParams>("/batches/:id/progress", async (request) => progress(request.params.id));
  app.post<IdParams>("/batches/:id/cancel", async (request) => cancel(request.params.id));
  app.post<IdParams>("/batches/:id/retry_failed", async (request) => retryFailed(request.params.id));
  // spool extension: the result lines finished so far, in input order, while the batch still runs
  // (output and error lines together, each in its usual shape).
  app.get<IdParams>("/batches/:id/results", async (request, reply) => {
    const batch = await findBatch(ctx, request.params.id, options);
    return reply.type("application/jsonl").send(Readable.from(finishedResultLines(ctx, batch)));
  });
  if (options.resourceNames) {
    app.get<IdParams>("/batches/batches/:id", async (request) => retrieve(`batches/${request.params.id}`));
    app.get<IdParams>("/batches/batches/:id/progress", async (request) => progress(`batches/${request.params.id}`));
    app.post<IdParams>("/batches/batches/:id/cancel", async (request) => cancel(`batches/${request.params.id}`));
  }
}

const FINISHED: readonly ItemStatus[] = ["succeeded", "failed", "cancelled", "expired"];

async function* finishedResultLines(ctx: AppContext, batch: Batch): AsyncGenerator<string> {
  let afterIndex = -1;
  for (;;) {
    const page = await ctx.store.readItems(batch.id, { afterIndex, limit: 1_000, statuses: FINISHED });
    let chunk = "";
    for (const item of page.items) if (item.result) chunk += `${openAIBatchFormat.resultLine(batch, item).line}\n`;
    if (chunk) yield chunk;
    if (page.nextAfterIndex === null) return;
    afterIndex = page.nextAfterIndex;
  }
}

async function createBatch(ctx: AppContext, body: unknown, options: RouteOptions): Promise<Batch> {
  const input = parseWire(createBatchSchema, body, "request body");
  if (!isSupportedEndpoint(input.endpoint)) {
    throw new AppError("invalid_request", `Endpoint '${input.endpoint}' is not supported; spool runs batches for ${SUPPORTED_ENDPOINTS.join(", ")}.`, {
      param: "endpoint",
    });
  }
  const file = await findFile(ctx, input.input_file_id, options, "input_file_id");
  if (file.purpose !== "batch") {
    throw new AppError("invalid_request", `File ${file.id} has purpose '${file.purpose}'; a batch input file must be uploaded with purpose 'batch'.`, {
      param: "input_file_id",
    });
  }
  const nowMs = ctx.clock.now();
  const windowHours = Number.parseInt(input.completion_window, 10);
  const batchOptions: Record<string, unknown> = { completionWindow: input.completion_window };
  if (input.output_expires_after) batchOptions.outputExpiresAfterMs = input.output_expires_after.seconds * 1000;
  const batch = await ctx.store.createBatch({
    id: newBatchId(),
    dialect: "openai",
    kind: KIND_BY_ENDPOINT[input.endpoint],
    endpoint: input.endpoint,
    model: null,
    inputFileId: file.id,
    invalidLinePolicy: "fail",
    displayName: null,
    metadata: input.metadata ?? null,
    options: batchOptions,
    priority: 0,
    createdAtMs: nowMs,
    expiresAtMs: nowMs + windowHours * 3600 * 1000,
  });
  // The Batch is committed: from here on nothing may turn this request into a 5xx, or the SDK (which
  // retries POSTs on 5xx) would create a duplicate.
  wake(ctx);
  return batch;
}

async function findBatch(ctx: AppContext, rawId: string, options: RouteOptions): Promise<Batch> {
  const batch = await findByCandidates(idCandidates(rawId, "batches", options.resourceNames), (id) => ctx.store.getBatch(id));
  if (!batch) throw new AppError("not_found", `No such Batch object: ${rawId}.`, { param: "batch_id" });
  return batch;
}

async function cancelBatch(ctx: AppContext, rawId: string, options: RouteOptions): Promise<Batch> {
  const batch = await findBatch(ctx, rawId, options);
  // Checked here for a clear message; the Store re-checks atomically (a Batch may finish meanwhile).
  if (isTerminal(batch.status) || batch.status === "finalizing") {
    throw new AppError("conflict", `Cannot cancel a batch with status '${batch.status}'.`, { param: "batch_id" });
  }
  const cancelled = await ctx.store.cancelBatch(batch.id, ctx.clock.now());
  wake(ctx);
  return cancelled;
}

function wake(ctx: AppContext): void {
  try {
    ctx.notifyWork();
  } catch (error) {
    ctx.logger.warn({ err: error }, "waking workers failed; they will find the work on their next poll");
  }
}
