/**
 * Message Batches: create (inline requests), retrieve, list (`before_id` / `after_id` / `limit`), cancel,
 * delete and results; plus spool's `progress` and `retry_failed` extensions. Thin: the wire work is in
 * src/dialects/anthropic/, the lifecycle in the Batch service.
 *
 * Results are the finished requests' lines in input order, read from the Store: the SDK's `results()` GETs
 * them once `results_url` is set (the Batch ended), and a client may GET the same URL earlier to read the
 * requests finished so far (the hosted service has no partial results).
 */
import { errorCodes, type FastifyInstance, type FastifyReply, type FastifyRequest } from "fastify";
import { Readable } from "node:stream";
import type { AppContext } from "../../app-context.ts";
import { AppError } from "../../core/errors.ts";
import { isTerminal, type Batch } from "../../core/types.ts";
import { listScope, type Caller } from "../../core/tenancy.ts";
import { requireResultsKept } from "../shared/archived-results.ts";
import { callerOf, visibleBatch } from "../shared/caller.ts";
import { createOwnership, RequestDigest } from "../shared/idempotency.ts";
import { MESSAGES_ENDPOINT, anthropicBatchFormat } from "../../dialects/anthropic/batch-format.ts";
import { JsonStreamError, readArrayField } from "../../core/json-array-stream.ts";
import { CreateBodyChecker, type CreateProblem } from "../../dialects/anthropic/create-body.ts";
import { toMessageBatch, toMessageBatchPage, toMessageBatchProgress } from "../../dialects/anthropic/mappers.ts";
import { newMessageBatchId } from "../../dialects/anthropic/wire.ts";
import { readBodyWithin } from "../shared/json-body.ts";
import { failedBatchResultLines } from "./failed-batch-results.ts";

type IdParams = { Params: { id: string } };

const DEFAULT_PAGE = 20;
const MAX_PAGE = 1_000;
/** Shown in messages; the rest are in the log of the problem list. */
const PROBLEMS_IN_MESSAGE = 10;

export function registerBatchRoutes(app: FastifyInstance, ctx: AppContext): void {
  const wire = (request: FastifyRequest, batch: Batch) => toMessageBatch(batch, resultsUrl(request, batch.id));

  app.register(async (scope) => {
    // The create body is read as it streams in (create-body.ts), not parsed whole by the JSON body parser.
    scope.removeAllContentTypeParsers();
    scope.addContentTypeParser("*", (_request, _payload, done) => done(null));
    scope.post("/batches", async (request) => wire(request, await createBatch(ctx, request)));
  });
  app.get("/batches", async (request) => listBatches(ctx, request));
  app.get<IdParams>("/batches/:id", async (request) => wire(request, await findBatch(ctx, callerOf(request), request.params.id)));
  app.post<IdParams>("/batches/:id/cancel", async (request) => wire(request, await cancelBatch(ctx, callerOf(request), request.params.id)));
  app.delete<IdParams>("/batches/:id", async (request) => deleteBatch(ctx, callerOf(request), request.params.id));
  app.get<IdParams>("/batches/:id/results", async (request, reply) => sendResults(ctx, await findBatch(ctx, callerOf(request), request.params.id), reply));
  app.get<IdParams>("/batches/:id/progress", async (request) => {
    const batch = await findBatch(ctx, callerOf(request), request.params.id);
    return toMessageBatchProgress(batch, await ctx.batches.progress(batch));
  });
  // spool extension: run the errored requests of an ended batch again; their new results replace the old
  // ones, so users never merge result files by hand.
  app.post<IdParams>("/batches/:id/retry_failed", async (request) => {
    const batch = await findBatch(ctx, callerOf(request), request.params.id);
    return wire(request, await ctx.batches.retryFailed(batch.id));
  });
}

/** The absolute URL the SDK's `results()` GETs verbatim: this server, as the client reached it. */
function resultsUrl(request: FastifyRequest, id: string): string {
  return `${request.protocol}://${request.host}/v1/messages/batches/${encodeURIComponent(id)}/results`;
}

/**
 * Checks the body request by request as it arrives and writes the good ones straight into the Batch's
 * internal input File; a problem anywhere fails the whole create with every problem named, and nothing is
 * kept. The body may be as large as an upload (`limits.maxUploadBytes`); one request as large as a line.
 */
async function createBatch(ctx: AppContext, request: FastifyRequest): Promise<Batch> {
  const contentType = request.headers["content-type"] ?? "";
  if (!/^application\/json\b/i.test(contentType)) throw new errorCodes.FST_ERR_CTP_INVALID_MEDIA_TYPE(contentType);
  const { limits } = ctx.config;
  const checker = new CreateBodyChecker({ maxRequests: limits.maxBatchItems, maxRequestBytes: limits.maxLineBytes });
  const digest = new RequestDigest(request);
  async function* lines(): AsyncGenerator<string> {
    try {
      for await (const event of readArrayField(readBodyWithin(request, limits.maxUploadBytes), "requests", { maxElementBytes: limits.maxLineBytes })) {
        const line = checker.take(event);
        // Once the body is known to be refused, the rest is only read for its problems.
        if (line !== null && checker.problemTotal === 0) {
          digest.add(line);
          yield line;
        }
      }
    } catch (error) {
      if (error instanceof JsonStreamError) throw new AppError("invalid_request", error.message);
      throw error;
    }
    const problems = checker.finish();
    if (problems.length > 0) throw refusal(problems, checker.problemTotal);
  }
  return ctx.batches.create({
    id: newMessageBatchId(),
    dialect: "anthropic",
    kind: "chat",
    endpoint: MESSAGES_ENDPOINT,
    model: null,
    input: { lines: lines() },
    ...createOwnership(request, digest),
  });
}

function refusal(problems: readonly CreateProblem[], total: number): AppError {
  const shown = problems.slice(0, PROBLEMS_IN_MESSAGE).map((problem) => problem.message);
  const more = total > shown.length ? ` (and ${total - shown.length} more problems)` : "";
  return new AppError("invalid_request", `${shown.join(" ")}${more}`, { param: problems[0]?.param ?? null });
}

export async function findBatch(ctx: AppContext, caller: Caller, rawId: string): Promise<Batch> {
  const batch = await visibleBatch(ctx, caller, rawId);
  if (!batch || batch.dialect !== "anthropic") throw new AppError("not_found", `No Message Batch with id '${rawId}' (it may have been deleted).`, { param: "message_batch_id" });
  return batch;
}

async function listBatches(ctx: AppContext, request: FastifyRequest) {
  const query = request.query as Record<string, unknown>;
  const limit = readLimit(query.limit);
  const afterId = readCursor(query, "after_id");
  const beforeId = readCursor(query, "before_id");
  if (afterId !== undefined && beforeId !== undefined) throw new AppError("invalid_request", "Send after_id or before_id, not both.", { param: "before_id" });
  const caller = callerOf(request);
  const { batches, hasMore } = await ctx.batches.list({ dialect: "anthropic", tenant: listScope(caller), afterId, beforeId, limit });
  const cursor = afterId ?? beforeId;
  // An empty page after a cursor that names no batch of this dialect would read as "no more": refused instead.
  if (cursor !== undefined && batches.length === 0 && (await visibleBatch(ctx, caller, cursor))?.dialect !== "anthropic") {
    throw new AppError("invalid_request", `${afterId !== undefined ? "after_id" : "before_id"}: no Message Batch with id '${cursor}'; pass the first_id or last_id of a page unchanged.`, {
      param: afterId !== undefined ? "after_id" : "before_id",
    });
  }
  return toMessageBatchPage(batches.map((batch) => toMessageBatch(batch, resultsUrl(request, batch.id))), hasMore);
}

function readLimit(raw: unknown): number {
  if (raw === undefined || raw === "") return DEFAULT_PAGE;
  const value = typeof raw === "string" && /^\d+$/.test(raw) ? Number(raw) : Number.NaN;
  if (!Number.isInteger(value) || value < 1 || value > MAX_PAGE) throw new AppError("invalid_request", `limit: must be an integer from 1 to ${MAX_PAGE}, found ${JSON.stringify(raw)}.`, { param: "limit" });
  return value;
}

function readCursor(query: Record<string, unknown>, name: "after_id" | "before_id"): string | undefined {
  const raw = query[name];
  if (raw === undefined || raw === "") return undefined;
  if (typeof raw !== "string") throw new AppError("invalid_request", `${name}: must be one Message Batch id.`, { param: name });
  return raw;
}

/** Idempotent while canceling or finishing; a batch that already ended cannot be canceled. */
async function cancelBatch(ctx: AppContext, caller: Caller, rawId: string): Promise<Batch> {
  const batch = await findBatch(ctx, caller, rawId);
  if (isTerminal(batch.status)) {
    throw new AppError("conflict", `Message Batch ${batch.id} has already ended; only a batch in progress can be canceled.`);
  }
  if (batch.status === "cancelling" || batch.status === "finalizing") return batch;
  try {
    return await ctx.batches.cancel(batch.id);
  } catch (error) {
    // It ended (or began writing its results) between the read and the cancel: report where it is now.
    if (error instanceof AppError && error.code === "conflict") return findBatch(ctx, caller, batch.id);
    throw error;
  }
}

async function deleteBatch(ctx: AppContext, caller: Caller, rawId: string): Promise<{ id: string; type: "message_batch_deleted" }> {
  const batch = await findBatch(ctx, caller, rawId);
  if (!isTerminal(batch.status)) {
    throw new AppError("invalid_request", `Message Batch ${batch.id} is still processing; cancel it and wait until it has ended before deleting it.`);
  }
  if (!(await ctx.batches.delete(batch.id))) throw new AppError("not_found", `No Message Batch with id '${batch.id}'.`, { param: "message_batch_id" });
  return { id: batch.id, type: "message_batch_deleted" };
}

async function sendResults(ctx: AppContext, batch: Batch, reply: FastifyReply): Promise<FastifyReply> {
  requireResultsKept(batch);
  const lines = batch.status === "failed" && batch.counts.total === 0 ? failedBatchResultLines(ctx, batch) : finishedResultLines(ctx, batch);
  return reply.type("application/binary").send(Readable.from(lines));
}

async function* finishedResultLines(ctx: AppContext, batch: Batch): AsyncGenerator<string> {
  for await (const items of ctx.batches.finishedResults(batch.id)) {
    yield items.map((item) => `${anthropicBatchFormat.resultLine(batch, item).line}\n`).join("");
  }
}
