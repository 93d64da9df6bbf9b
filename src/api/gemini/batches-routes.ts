/**
 * Batch Mode: `models/{m}:batchGenerateContent`, `models/{m}:asyncBatchEmbedContent`, and batches
 * get / list / cancel / delete.
 *
 * A file source becomes a Batch over that File. An inline source is checked here, synchronously (an empty
 * or malformed request is rejected with its position, before anything is stored), then written as JSONL
 * lines into an internal File so validation and Items work exactly as for files; `options.inline` makes
 * the results come back inline, in input order, with each request's `metadata`.
 */
import type { FastifyRequest } from "fastify";
import { listScope, type Caller } from "../../core/tenancy.ts";
import { callerOf, visibleBatch } from "../shared/caller.ts";
import { createOwnership, RequestDigest } from "../shared/idempotency.ts";
import type { AppContext } from "../../app-context.ts";
import { AppError } from "../../core/errors.ts";
import { stripModelsPrefix } from "../../dialects/gemini/wire.ts";
import type { Batch, RequestKind } from "../../core/types.ts";
import { isTerminal } from "../../core/types.ts";
import { toInlinedResponse } from "../../dialects/gemini/batch-format.ts";
import { invalidArgument } from "./errors.ts";
import type { FieldViolation } from "../../dialects/gemini/errors.ts";
import { findFile } from "./files.ts";
import { toGeminiOperation } from "../../dialects/gemini/operations.ts";
import { checkRequest } from "../../dialects/gemini/request-checks.ts";
import { asInt64, describe, field, isObject, spelledAs, type Json } from "../../dialects/gemini/wire.ts";

const MAX_LISTED_VIOLATIONS = 100;

export type BatchVerb = "batchGenerateContent" | "asyncBatchEmbedContent";

const KIND_BY_VERB: Record<BatchVerb, RequestKind> = { batchGenerateContent: "chat", asyncBatchEmbedContent: "embedding" };

/** The configured Model named in the URL, or the 404 Google gives for unknown models. */
export function resolveModel(ctx: AppContext, rawModel: string, kind: RequestKind): string {
  const name = stripModelsPrefix(decodeURIComponent(rawModel));
  const config = ctx.catalog.get(name);
  if (!config) throw new AppError("unknown_model", `models/${name} is not found: ${ctx.catalog.unknownModelMessage(name)}`, { param: "model" });
  if (!ctx.catalog.serves(config, kind)) {
    throw invalidArgument(`models/${name} does not serve ${kind === "embedding" ? "embeddings" : "content generation"}.`, "model");
  }
  return config.name;
}

interface CreateInput {
  displayName: string | null;
  priority: number;
  fileName: string | null;
  inline: unknown[] | null;
}

function readCreateBody(body: unknown): CreateInput {
  if (!isObject(body)) throw invalidArgument('The request body must be a JSON object like {"batch": {"inputConfig": {...}}}.', "batch");
  const batch = field(body, "batch");
  if (!isObject(batch)) {
    throw invalidArgument(batch === undefined ? '\'batch\' is required: {"batch": {"displayName": "...", "inputConfig": {"fileName": "files/..."}}}.' : `'batch' must be an object, found ${describe(batch)}.`, "batch");
  }
  const displayName = field(batch, "displayName");
  if (displayName !== undefined && displayName !== null && (typeof displayName !== "string" || displayName.length > 512)) {
    throw invalidArgument("'batch.displayName' must be a string of at most 512 characters.", `batch.${spelledAs(batch, "displayName")}`);
  }
  const priorityRaw = field(batch, "priority");
  const priority = priorityRaw === undefined || priorityRaw === null ? 0 : asInt64(priorityRaw);
  if (priority === null) throw invalidArgument("'batch.priority' must be an integer (int64, as a number or a string).", "batch.priority");
  const inputName = spelledAs(batch, "inputConfig");
  const input = field(batch, "inputConfig");
  if (!isObject(input)) {
    throw invalidArgument(
      input === undefined ? `'batch.inputConfig' is required: {"fileName": "files/<id>"} or {"requests": {"requests": [...]}}.` : `'batch.inputConfig' must be an object, found ${describe(input)}.`,
      `batch.${inputName}`,
    );
  }
  const fileName = field(input, "fileName");
  const requests = field(input, "requests");
  const hasFile = fileName !== undefined && fileName !== null && fileName !== "";
  const hasRequests = requests !== undefined && requests !== null;
  if (hasFile === hasRequests) {
    throw invalidArgument(`'batch.${inputName}' must have exactly one of 'fileName' (an uploaded JSONL file) or 'requests' (inline requests).`, `batch.${inputName}`);
  }
  if (hasFile) {
    if (typeof fileName !== "string") throw invalidArgument("'fileName' must be a string like \"files/abc123\".", `batch.${inputName}.${spelledAs(input, "fileName")}`);
    return { displayName: (displayName as string | undefined) ?? null, priority, fileName, inline: null };
  }
  const list = isObject(requests) ? requests.requests : undefined;
  if (!Array.isArray(list) || list.length === 0) {
    throw invalidArgument("'requests.requests' must be a non-empty list of {\"request\": {...}, \"metadata\": {...}} objects.", `batch.${inputName}.requests.requests`);
  }
  return { displayName: (displayName as string | undefined) ?? null, priority, fileName: null, inline: list };
}

export async function createBatch(ctx: AppContext, rawModel: string, verb: BatchVerb, request: FastifyRequest): Promise<Json> {
  const body = request.body;
  const kind = KIND_BY_VERB[verb];
  const model = resolveModel(ctx, rawModel, kind);
  const input = readCreateBody(body);
  const source =
    input.fileName !== null
      ? { fileId: (await findFile(ctx, callerOf(request), input.fileName, "batch.inputConfig.fileName")).id }
      : { lines: checkInlineRequests(ctx, input.inline ?? [], kind, model) };
  const batch = await ctx.batches.create({
    dialect: "gemini",
    kind,
    endpoint: verb,
    model,
    input: source,
    displayName: input.displayName,
    priority: input.priority,
    ...createOwnership(request, new RequestDigest(request), body),
  });
  return toGeminiOperation(batch);
}

/** Checks every inline request; returns them as JSONL lines or throws naming each bad position. */
function checkInlineRequests(ctx: AppContext, list: unknown[], kind: RequestKind, model: string): string[] {
  if (list.length > ctx.config.limits.maxBatchItems) {
    throw invalidArgument(`The batch has ${list.length} inline requests; the limit is ${ctx.config.limits.maxBatchItems}.`, "batch.inputConfig.requests.requests");
  }
  const violations: FieldViolation[] = [];
  const lines: string[] = [];
  list.forEach((entry, index) => {
    const path = `batch.inputConfig.requests.requests[${index}]`;
    if (!isObject(entry)) {
      violations.push({ field: path, description: `${path}: must be an object like {"request": {...}, "metadata": {...}}, found ${describe(entry)}.` });
      return;
    }
    const request = entry.request;
    const metadata = entry.metadata;
    if (metadata !== undefined && metadata !== null && !isObject(metadata)) {
      violations.push({ field: `${path}.metadata`, description: `${path}.metadata: must be an object, found ${describe(metadata)}.` });
    }
    if (request === undefined || (isObject(request) && Object.keys(request).length === 0)) {
      const what = kind === "embedding" ? "content" : "contents";
      violations.push({
        field: `${path}.request.${what}`,
        description:
          `${path}.request.${what}: the request is empty. The genai SDK drops fields it does not know from inline requests: ` +
          (kind === "embedding"
            ? "pass src: {inlinedRequests: {contents: [...], config: {...}}}."
            : "pass objects shaped {contents, config?, metadata?} as src, not JSONL-style {key, request} or REST-shaped objects."),
      });
      return;
    }
    const checked = checkRequest(request, `${path}.request`, kind, model, ctx.catalog);
    for (const problem of checked.problems) violations.push({ field: problem.param, description: problem.message });
    lines.push(JSON.stringify(isObject(metadata) ? { metadata, request } : { request }));
  });
  if (violations.length > 0) {
    const shown = violations.slice(0, 5).map((violation) => violation.description);
    const more = violations.length > shown.length ? ` (${violations.length - shown.length} more problems in details)` : "";
    throw invalidArgument(`Invalid inline requests: ${shown.join(" ")}${more}`, violations[0]?.field ?? null, violations.slice(0, MAX_LISTED_VIOLATIONS));
  }
  return lines;
}

export async function findBatch(ctx: AppContext, caller: Caller, rawId: string): Promise<Batch> {
  const id = decodeURIComponent(rawId);
  const batch = await visibleBatch(ctx, caller, id);
  if (!batch || batch.dialect !== "gemini" || batch.deletedAtMs !== null) {
    throw new AppError("not_found", `Batch batches/${id} was not found (it may have been deleted).`, { param: "name" });
  }
  return batch;
}

/** Inline results in input order, read page by page; only once the batch has ended. */
async function inlinedResponses(ctx: AppContext, batch: Batch): Promise<Json[] | null> {
  // Archived (retention): the operation still answers, without the responses it no longer holds.
  if (batch.options.inline !== true || !isTerminal(batch.status) || batch.status === "failed" || batch.archivedAtMs !== null) return null;
  const entries: Json[] = [];
  for await (const items of ctx.batches.finishedResults(batch.id)) for (const item of items) entries.push(toInlinedResponse(item));
  return entries;
}

export async function getBatch(ctx: AppContext, caller: Caller, rawId: string): Promise<Json> {
  const batch = await findBatch(ctx, caller, rawId);
  return toGeminiOperation(batch, { inlinedResponses: await inlinedResponses(ctx, batch) });
}

export async function listBatches(ctx: AppContext, caller: Caller, query: Record<string, unknown>): Promise<Json> {
  const limit = readPageSize(query, 10, 100);
  const token = readPageToken(query);
  const { batches, hasMore } = await ctx.batches.list({ dialect: "gemini", tenant: listScope(caller), afterId: token ?? undefined, limit });
  if (token !== null && batches.length === 0 && (await visibleBatch(ctx, caller, token))?.dialect !== "gemini") throw invalidPageToken(token);
  const reply: Json = { operations: batches.map((batch) => toGeminiOperation(batch)) };
  // Omitted (never "") on the last page: an empty token makes the SDK request the first page forever.
  const last = batches.at(-1);
  if (hasMore && last) reply.nextPageToken = last.id;
  return reply;
}

export function readPageSize(query: Record<string, unknown>, defaultSize: number, maxSize: number): number {
  const raw = query.pageSize ?? query.page_size;
  if (raw === undefined || raw === "") return defaultSize;
  const value = asInt64(raw);
  if (value === null || value < 0) throw invalidArgument(`pageSize must be a non-negative integer, found ${JSON.stringify(raw)}.`, "pageSize");
  return value === 0 ? defaultSize : Math.min(value, maxSize);
}

export function readPageToken(query: Record<string, unknown>): string | null {
  const raw = query.pageToken ?? query.page_token;
  if (raw === undefined || raw === "") return null;
  if (typeof raw !== "string") throw invalidArgument("pageToken must be the nextPageToken of the previous page.", "pageToken");
  return raw;
}

/**
 * Tokens are the id of the last item of the previous page (keyset paging), and the store pages after an
 * id it knows; an unknown one gives an empty page, which would read as the last one and silently end a
 * client's paging, so an empty page after a token that names nothing is refused as Google refuses bad
 * tokens. A deleted batch keeps its place (it is only hidden) and its token pages on; a deleted file does
 * not, and its token is refused with this message.
 */
export function invalidPageToken(token: string): AppError {
  const shown = token.length > 100 ? `${token.slice(0, 100)}…` : token;
  return invalidArgument(`Invalid pageToken ${JSON.stringify(shown)}: pass the nextPageToken of the previous page unchanged, or list again from the first page (the item it pointed at may have been deleted).`, "pageToken");
}

export async function cancelBatch(ctx: AppContext, caller: Caller, rawId: string): Promise<Json> {
  const batch = await findBatch(ctx, caller, rawId);
  // Idempotent: cancelling a batch that already ended (or is writing its results) changes nothing.
  if (isTerminal(batch.status) || batch.status === "finalizing") return {};
  try {
    await ctx.batches.cancel(batch.id);
  } catch (error) {
    if (!(error instanceof AppError && error.code === "conflict")) throw error;
  }
  return {};
}

export async function deleteBatch(ctx: AppContext, caller: Caller, rawId: string): Promise<Json> {
  const batch = await findBatch(ctx, caller, rawId);
  const deleted = await ctx.batches.delete(batch.id);
  if (!deleted) throw new AppError("not_found", `Batch batches/${batch.id} was not found.`, { param: "name" });
  return {};
}
