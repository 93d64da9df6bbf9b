/** Batches API: create, retrieve, list, cancel, plus spool's progress, results and retry extensions. */
import type { FastifyInstance, FastifyRequest } from "fastify";
import { Readable } from "node:stream";
import type { AppContext } from "../../app-context.ts";
import { AppError } from "../../core/errors.ts";
import { listScope, type Caller } from "../../core/tenancy.ts";
import type { Batch } from "../../core/types.ts";
import { requireResultsKept } from "../shared/archived-results.ts";
import { callerOf, visibleBatch, visibleFile } from "../shared/caller.ts";
import { createOwnership, RequestDigest } from "../shared/idempotency.ts";
import { openAIBatchFormat } from "../../dialects/openai/batch-format.ts";
import { isSupportedEndpoint, KIND_BY_ENDPOINT, SUPPORTED_ENDPOINTS } from "../../dialects/openai/endpoints.ts";
import { toCursorPage, toOpenAIBatch, toOpenAIBatchProgress } from "../../dialects/openai/mappers.ts";
import { findByCandidates, idCandidates } from "../../dialects/openai/path-ids.ts";
import { batchPriority, completionWindowMs, createBatchSchema, listBatchesQuerySchema, parseWire, resultsQuerySchema, retryFailedBodySchema } from "../../dialects/openai/schemas.ts";
import { unknownCursor, type RouteOptions } from "./files-routes.ts";

type IdParams = { Params: { id: string } };

export async function registerBatchRoutes(app: FastifyInstance, ctx: AppContext, options: RouteOptions): Promise<void> {
  app.post("/batches", async (request) => toOpenAIBatch(await createBatch(ctx, request, options)));

  app.get("/batches", async (request) => {
    const query = parseWire(listBatchesQuerySchema, request.query, "query");
    const caller = callerOf(request);
    const { batches, hasMore } = await ctx.batches.list({ dialect: "openai", tenant: listScope(caller), afterId: query.after, limit: query.limit });
    if (query.after !== undefined && batches.length === 0 && (await visibleBatch(ctx, caller, query.after))?.dialect !== "openai") throw unknownCursor(query.after, "batch");
    return toCursorPage(batches.map(toOpenAIBatch), hasMore);
  });

  const retrieve = async (caller: Caller, rawId: string) => toOpenAIBatch(await findBatch(ctx, caller, rawId, options));
  const progress = async (caller: Caller, rawId: string) => {
    const batch = await findBatch(ctx, caller, rawId, options);
    return toOpenAIBatchProgress(batch, await ctx.batches.progress(batch));
  };
  const cancel = async (caller: Caller, rawId: string) => toOpenAIBatch(await ctx.batches.cancel((await findBatch(ctx, caller, rawId, options)).id));
  // spool extension: run the failed requests of a finished batch again; their new results replace the old
  // ones in the same output, so users never merge result files by hand.
  // By default only failures another try can fix (429, 408, 5xx, timeouts, cancelled); `{"all": true}` for all.
  const retryFailed = async (caller: Caller, rawId: string, body: unknown) => {
    const input = parseWire(retryFailedBodySchema, body ?? undefined, "request body");
    return toOpenAIBatch(await ctx.batches.retryFailed((await findBatch(ctx, caller, rawId, options)).id, { all: input?.all }));
  };

  app.get<IdParams>("/batches/:id", async (request) => retrieve(callerOf(request), request.params.id));
  app.get<IdParams>("/batches/:id/progress", async (request) => progress(callerOf(request), request.params.id));
  app.post<IdParams>("/batches/:id/cancel", async (request) => cancel(callerOf(request), request.params.id));
  app.post<IdParams>("/batches/:id/retry_failed", async (request) => retryFailed(callerOf(request), request.params.id, request.body));
  // spool extension: the result lines finished so far, in input order, while the batch still runs
  // (output and error lines together, each in its usual shape). With `after` (the custom_id / key of the
  // last line received) or `limit`: the next lines in input order, up to the first request not finished yet.
  app.get<IdParams>("/batches/:id/results", async (request, reply) => {
    const batch = await findBatch(ctx, callerOf(request), request.params.id, options);
    requireResultsKept(batch);
    const raw = request.query as Record<string, unknown>;
    if (raw.after === undefined && raw.limit === undefined) return reply.type("application/jsonl").send(Readable.from(finishedResultLines(ctx, batch)));
    const query = parseWire(resultsQuerySchema, raw, "query");
    const items = await ctx.batches.resultsAfter(batch.id, { afterClientId: query.after, limit: query.limit });
    if (items === null) throw new AppError("invalid_request", `No finished result of batch ${batch.id} has the id '${query.after ?? ""}'; 'after' takes the custom_id (or key) of the last result line received.`, { param: "after" });
    return reply.type("application/jsonl").send(items.map((item) => `${openAIBatchFormat.resultLine(batch, item).line}\n`).join(""));
  });
  if (options.resourceNames) {
    app.get<IdParams>("/batches/batches/:id", async (request) => retrieve(callerOf(request), `batches/${request.params.id}`));
    app.get<IdParams>("/batches/batches/:id/progress", async (request) => progress(callerOf(request), `batches/${request.params.id}`));
    app.post<IdParams>("/batches/batches/:id/cancel", async (request) => cancel(callerOf(request), `batches/${request.params.id}`));
  }
}

async function* finishedResultLines(ctx: AppContext, batch: Batch): AsyncGenerator<string> {
  for await (const items of ctx.batches.finishedResults(batch.id)) {
    yield items.map((item) => `${openAIBatchFormat.resultLine(batch, item).line}\n`).join("");
  }
}

async function createBatch(ctx: AppContext, request: FastifyRequest, options: RouteOptions): Promise<Batch> {
  const body = request.body;
  const caller = callerOf(request);
  const input = parseWire(createBatchSchema, body, "request body");
  const priority = batchPriority(input);
  if (!isSupportedEndpoint(input.endpoint)) {
    const supported = SUPPORTED_ENDPOINTS.map((endpoint) => `'${endpoint}'`).join(", ");
    throw new AppError("invalid_request", `Invalid value: '${input.endpoint}'. Supported values are: ${supported}.`, { param: "endpoint", reason: "invalid_value" });
  }
  // As at OpenAI, an unknown file does not fail the create: the Batch is created and fails in validation
  // with `param: file_id` (the Sweeper finds no such File). A file of the wrong purpose is refused now.
  const file = await findByCandidates(idCandidates(input.input_file_id, "files", options.resourceNames), (id) => visibleFile(ctx, caller, id));
  if (file !== null && file.purpose !== "batch") {
    throw new AppError("invalid_request", `File ${file.id} has purpose '${file.purpose}'; a batch input file must be uploaded with purpose 'batch'.`, {
      param: "input_file_id",
    });
  }
  const batchOptions: Record<string, unknown> = { completionWindow: input.completion_window };
  if (input.output_expires_after) batchOptions.outputExpiresAfterMs = input.output_expires_after.seconds * 1000;
  return ctx.batches.create({
    dialect: "openai",
    kind: KIND_BY_ENDPOINT[input.endpoint],
    endpoint: input.endpoint,
    model: null,
    input: { fileId: file?.id ?? input.input_file_id },
    metadata: input.metadata ?? null,
    options: batchOptions,
    priority,
    lifetimeMs: completionWindowMs(input.completion_window),
    ...createOwnership(request, new RequestDigest(request), body),
  });
}

async function findBatch(ctx: AppContext, caller: Caller, rawId: string, options: RouteOptions): Promise<Batch> {
  const batch = await findByCandidates(idCandidates(rawId, "batches", options.resourceNames), (id) => visibleBatch(ctx, caller, id));
  if (!batch) throw new AppError("not_found", `No such Batch object: ${rawId}.`, { param: "batch_id" });
  return batch;
}
