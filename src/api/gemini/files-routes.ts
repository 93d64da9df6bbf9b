/** Files API (Gemini shape): get, list, delete, download. Uploads are in upload-routes.ts. */
import type { FastifyReply, FastifyRequest } from "fastify";
import type { AppContext } from "../../app-context.ts";
import { AppError } from "../../core/errors.ts";
import { listScope, type Caller } from "../../core/tenancy.ts";
import type { FileRecord } from "../../core/types.ts";
import { callerOf, visibleFile } from "../shared/caller.ts";
import { BlobNotFoundError } from "../../store/blob-store.ts";
import { invalidPageToken, readPageSize, readPageToken } from "./batches-routes.ts";
import { contentTypeForDownload, findFile, INLINE_INPUT_PURPOSE, requestOrigin, toGeminiFile } from "./files.ts";
import type { Json } from "../../dialects/gemini/wire.ts";

export async function getFile(ctx: AppContext, rawId: string, request: FastifyRequest): Promise<Json> {
  return toGeminiFile(await findFile(ctx, callerOf(request), decodeURIComponent(rawId)), requestOrigin(request));
}

/**
 * Newest first. Internal inline-input files are skipped, so a page may need several store reads; the
 * token is the id of the last File examined.
 */
export async function listFiles(ctx: AppContext, request: FastifyRequest): Promise<Json> {
  const query = request.query as Record<string, unknown>;
  const caller = callerOf(request);
  const pageSize = readPageSize(query, 10, 100);
  const token = readPageToken(query);
  let afterId = token ?? undefined;
  const files: FileRecord[] = [];
  let hasMore = true;
  while (files.length < pageSize && hasMore) {
    const page = await ctx.store.listFiles({ tenant: listScope(caller), afterId, limit: pageSize - files.length, order: "desc" });
    hasMore = page.hasMore;
    for (const file of page.files) if (file.purpose !== INLINE_INPUT_PURPOSE) files.push(file);
    afterId = page.files.at(-1)?.id ?? afterId;
    if (page.files.length === 0) break;
  }
  if (token !== null && files.length === 0 && (await visibleFile(ctx, caller, token)) === null) throw invalidPageToken(token);
  const origin = requestOrigin(request);
  const reply: Json = { files: files.map((file) => toGeminiFile(file, origin)) };
  // Omitted (never "") on the last page: an empty token makes the SDK request the first page forever.
  if (hasMore && afterId !== undefined) reply.nextPageToken = afterId;
  return reply;
}

export async function deleteFile(ctx: AppContext, caller: Caller, rawId: string): Promise<Json> {
  const file = await findFile(ctx, caller, decodeURIComponent(rawId));
  if (!(await ctx.store.deleteFile(file.id))) throw new AppError("not_found", `File files/${file.id} was not found.`, { param: "name" });
  await ctx.blobs.delete(file.id);
  return {};
}

/** Raw bytes, streamed (both `/v1beta/files/{id}:download` and `/download/v1beta/files/{id}:download`). */
export async function downloadFile(ctx: AppContext, caller: Caller, rawId: string, reply: FastifyReply): Promise<FastifyReply> {
  const file = await findFile(ctx, caller, decodeURIComponent(rawId));
  let stream;
  try {
    stream = await ctx.blobs.read(file.id);
  } catch (error) {
    if (error instanceof BlobNotFoundError) throw new AppError("not_found", `The contents of files/${file.id} are no longer stored.`, { param: "name" });
    throw error;
  }
  // Sent chunked on purpose: with an explicit content-length, a piped stream left its keep-alive
  // connection counted as busy after the reply (Node 20 + Fastify 5), so server.close() never returned.
  return reply.code(200).type(contentTypeForDownload(file)).send(stream);
}
