/** Files API: upload, list, retrieve, download, delete. */
import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import type { AppContext } from "../../app-context.ts";
import { AppError } from "../../core/errors.ts";
import { newFileId } from "../../core/ids.ts";
import { listScope, type Caller } from "../../core/tenancy.ts";
import type { FileRecord } from "../../core/types.ts";
import { callerOf, visibleFile } from "../shared/caller.ts";
import { BlobNotFoundError, BlobTooLargeError } from "../../store/blob-store.ts";
import { fileQuotaError } from "../../batches/tenant-service.ts";
import { toCursorPage, toOpenAIFile } from "../../dialects/openai/mappers.ts";
import { findByCandidates, idCandidates } from "../../dialects/openai/path-ids.ts";
import { FILE_PURPOSES, listFilesQuerySchema, MAX_EXPIRES_SECONDS, MIN_EXPIRES_SECONDS, parseWire } from "../../dialects/openai/schemas.ts";
import { receiveUpload, UploadAbortedError, type ReceivedUpload } from "./upload.ts";
import { BatchFileCheck } from "../../core/batch-file-check.ts";

/** Files uploaded for batches expire after 30 days unless `expires_after` says otherwise (as OpenAI). */
const BATCH_FILE_RETENTION_MS = 30 * 24 * 3600 * 1000;

export interface RouteOptions {
  /** Accept Gemini resource names (`files/abc`, `batches/abc`) as ids: the /v1beta/openai surface. */
  resourceNames: boolean;
}

type IdParams = { Params: { id: string } };

export async function registerFileRoutes(app: FastifyInstance, ctx: AppContext, options: RouteOptions): Promise<void> {
  // The body is read by the upload handler itself (streamed to the BlobStore), not buffered by Fastify.
  app.addContentTypeParser("multipart/form-data", (_request, _payload, done) => done(null));

  app.post("/files", async (request, reply) => {
    const file = await storeUpload(ctx, request, callerOf(request));
    return reply.code(200).send(toOpenAIFile(file));
  });

  app.get("/files", async (request) => {
    const query = parseWire(listFilesQuerySchema, request.query, "query");
    const caller = callerOf(request);
    const { files, hasMore } = await ctx.store.listFiles({ purpose: query.purpose, tenant: listScope(caller), afterId: query.after, limit: query.limit, order: query.order });
    if (query.after !== undefined && files.length === 0 && (await visibleFile(ctx, caller, query.after)) === null) throw unknownCursor(query.after, "file");
    return toCursorPage(files.map(toOpenAIFile), hasMore);
  });

  const retrieve = async (caller: Caller, rawId: string) => toOpenAIFile(await findFile(ctx, caller, rawId, options));
  const content = async (caller: Caller, rawId: string, reply: FastifyReply) => {
    const file = await findFile(ctx, caller, rawId, options);
    let stream;
    try {
      stream = await ctx.blobs.read(file.id);
    } catch (error) {
      if (error instanceof BlobNotFoundError) throw new AppError("not_found", `The contents of file ${file.id} are no longer stored.`, { param: "file_id" });
      throw error;
    }
    return reply.header("content-length", String(file.bytes)).type("application/octet-stream").send(stream);
  };
  const remove = async (caller: Caller, rawId: string) => {
    const file = await findFile(ctx, caller, rawId, options);
    const deleted = await ctx.store.deleteFile(file.id);
    if (!deleted) throw notFound(rawId);
    await ctx.blobs.delete(file.id);
    return { id: file.id, object: "file", deleted: true };
  };

  app.get<IdParams>("/files/:id", async (request) => retrieve(callerOf(request), request.params.id));
  app.get<IdParams>("/files/:id/content", async (request, reply) => content(callerOf(request), request.params.id, reply));
  app.delete<IdParams>("/files/:id", async (request) => remove(callerOf(request), request.params.id));
  if (options.resourceNames) {
    app.get<IdParams>("/files/files/:id", async (request) => retrieve(callerOf(request), `files/${request.params.id}`));
    app.get<IdParams>("/files/files/:id/content", async (request, reply) => content(callerOf(request), `files/${request.params.id}`, reply));
    app.delete<IdParams>("/files/files/:id", async (request) => remove(callerOf(request), `files/${request.params.id}`));
  }
}

export async function findFile(ctx: AppContext, caller: Caller, rawId: string, options: RouteOptions, param = "file_id"): Promise<FileRecord> {
  const file = await findByCandidates(idCandidates(rawId, "files", options.resourceNames), (id) => visibleFile(ctx, caller, id));
  if (!file) throw notFound(rawId, param);
  return file;
}

/**
 * Lists page by keyset after the cursor's position, which only an object the store knows has: after an
 * unknown `after` (a typo, or a file deleted since the previous page) the page comes back empty, and is
 * refused rather than answered as an empty page that reads as "no more".
 */
export function unknownCursor(after: string, noun: "file" | "batch"): AppError {
  return new AppError(
    "invalid_request",
    `'after' must be the id of a ${noun} from the previous page; ${JSON.stringify(after)} is not one (it may have been deleted since). List again from the first page.`,
    { param: "after" },
  );
}

function notFound(rawId: string, param = "file_id"): AppError {
  return new AppError("not_found", `No such File object: ${rawId}.`, { param });
}

async function storeUpload(ctx: AppContext, request: FastifyRequest, caller: Caller): Promise<FileRecord> {
  const id = newFileId();
  const quota = await ctx.tenants.maxFileBytes(caller.tenant);
  const maxBytes = Math.min(ctx.config.limits.maxUploadBytes, quota ?? Number.POSITIVE_INFINITY);
  // The purpose arrives after the file (the SDK sends it second), so every upload is checked as it
  // streams, and the verdict is used for purpose "batch" only.
  const check = new BatchFileCheck(ctx.config.limits.maxLineBytes);
  let upload: ReceivedUpload;
  try {
    upload = await receiveUpload(request, ctx.blobs, id, maxBytes, (chunk) => check.push(chunk));
  } catch (error) {
    if (error instanceof BlobTooLargeError && quota !== null && quota === maxBytes) throw fileQuotaError(caller.tenant, quota);
    if (error instanceof UploadAbortedError) {
      request.log.debug({ fileId: id }, "upload interrupted by the client; nothing kept");
      throw new AppError("invalid_request", "The upload was interrupted before it finished.", { param: "file" });
    }
    throw error;
  }
  const writer = upload.file?.writer ?? null;
  let committed = false;
  try {
    if (!upload.file) throw new AppError("invalid_request", "The upload has no 'file' part.", { param: "file" });
    const { purpose, expiresAfterSeconds } = readUploadFields(upload.fields);
    const problem = purpose === "batch" ? check.finish() : null;
    if (problem !== null) {
      throw new AppError("invalid_request", `Invalid file format for Batch API: ${problem}. Upload a .jsonl file of one request object per line.`, { param: "file", reason: "invalid_file_format" });
    }
    const nowMs = ctx.clock.now();
    const info = await upload.file.writer.commit();
    committed = true;
    await ctx.tenants.requireRoom(caller.tenant, { bytes: info.bytes });
    const expiresAtMs =
      expiresAfterSeconds !== null ? nowMs + expiresAfterSeconds * 1000 : purpose === "batch" ? nowMs + BATCH_FILE_RETENTION_MS : null;
    return await ctx.store.createFile({
      id,
      tenant: caller.tenant,
      purpose,
      filename: upload.file.filename,
      displayName: null,
      mimeType: upload.file.mimeType || null,
      bytes: info.bytes,
      sha256: info.sha256,
      source: "uploaded",
      createdAtMs: nowMs,
      expiresAtMs,
    });
  } catch (error) {
    if (committed) await ctx.blobs.delete(id).catch(() => false);
    else await writer?.abort().catch(() => undefined);
    throw error;
  }
}

function readUploadFields(fields: Map<string, string>): { purpose: string; expiresAfterSeconds: number | null } {
  const allowed = new Set(["purpose", "expires_after[anchor]", "expires_after[seconds]"]);
  for (const name of fields.keys()) {
    if (!allowed.has(name)) throw new AppError("invalid_request", `Unrecognized request argument supplied: ${name}.`, { param: name });
  }
  const purpose = fields.get("purpose");
  if (purpose === undefined || purpose === "") {
    throw new AppError("invalid_request", `'purpose' is required: one of ${FILE_PURPOSES.join(", ")}.`, { param: "purpose" });
  }
  if (!(FILE_PURPOSES as readonly string[]).includes(purpose)) {
    throw new AppError("invalid_request", `'${purpose}' is not a valid purpose: use one of ${FILE_PURPOSES.join(", ")}.`, { param: "purpose" });
  }
  const anchor = fields.get("expires_after[anchor]");
  const secondsText = fields.get("expires_after[seconds]");
  if (anchor === undefined && secondsText === undefined) return { purpose, expiresAfterSeconds: null };
  if (anchor !== "created_at") {
    throw new AppError("invalid_request", "'expires_after[anchor]' must be \"created_at\".", { param: "expires_after.anchor" });
  }
  const seconds = secondsText !== undefined && /^\d+$/.test(secondsText) ? Number(secondsText) : Number.NaN;
  if (!(seconds >= MIN_EXPIRES_SECONDS && seconds <= MAX_EXPIRES_SECONDS)) {
    throw new AppError("invalid_request", `'expires_after[seconds]' must be a whole number from ${MIN_EXPIRES_SECONDS} to ${MAX_EXPIRES_SECONDS}.`, {
      param: "expires_after.seconds",
    });
  }
  return { purpose, expiresAfterSeconds: seconds };
}
