/**
 * `POST /upload/v1beta/files`: resumable (start, then byte requests at offsets), simple multipart and raw
 * uploads, exactly as the genai SDK and Google's REST docs send them.
 *
 * Bodies here are never parsed by Fastify: the SDK labels raw chunks `application/json`, curl labels them
 * `application/x-www-form-urlencoded`, and the docs label the start request `application/jsonl`. This
 * context therefore replaces every content-type parser with one that leaves the stream untouched, and the
 * handlers read the body themselves with readBody (streaming file bytes into an uncommitted BlobWriter).
 */
import { isUtf8 } from "node:buffer";
import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import type { AppContext } from "../../app-context.ts";
import { AppError } from "../../core/errors.ts";
import { newFileId, randomToken } from "../../core/ids.ts";
import { canSee } from "../../core/tenancy.ts";
import { fileQuotaError } from "../../batches/tenant-service.ts";
import { callerOf } from "../shared/caller.ts";
import type { FileRecord } from "../../core/types.ts";
import { BlobTooLargeError, type BlobWriter } from "../../store/blob-store.ts";
import { invalidArgument } from "./errors.ts";
import { isValidFileId, requestOrigin, stripFilesPrefix, toGeminiFile } from "./files.ts";
import { boundaryOf, readMultipart } from "./multipart-related.ts";
import { readBody } from "../shared/request-body.ts";
import type { UploadMetadata, UploadSession, UploadSessions } from "./upload-sessions.ts";
import { asInt64, field, isObject } from "../../dialects/gemini/wire.ts";
import { pathOf } from "../shared/url-path.ts";

/** Uploaded files expire 48 h after creation, as on the real service. */
export const FILE_RETENTION_MS = 48 * 3600 * 1000;
const UPLOADED_PURPOSE = "user_data";
const MAX_START_BODY_BYTES = 1024 * 1024;
const CHUNK_GRANULARITY = String(8 * 1024 * 1024);

export async function registerUploadRoutes(scope: FastifyInstance, ctx: AppContext, sessions: UploadSessions): Promise<void> {
  scope.removeAllContentTypeParsers();
  scope.addContentTypeParser("*", (_request, _payload, done) => done(null, undefined));
  scope.addHook("onClose", async () => sessions.closeAll());

  scope.route({
    method: ["POST", "PUT"],
    url: "/*",
    handler: async (request, reply) => {
      const query = request.query as Record<string, unknown>;
      const uploadId = typeof query.upload_id === "string" ? query.upload_id : null;
      try {
        if (uploadId !== null) return await sessionRequest(ctx, sessions, uploadId, request, reply);
        if (!/^\/upload\/v\w+\/files\/?$/.test(pathOf(request.url))) {
          throw new AppError("not_found", `Invalid upload URL (${request.method} ${pathOf(request.url)}); uploads start at POST /upload/v1beta/files.`);
        }
        const protocol = header(request, "x-goog-upload-protocol")?.toLowerCase() ?? "";
        const contentType = header(request, "content-type") ?? "";
        if (protocol === "resumable") return await startSession(ctx, sessions, request, reply);
        if (protocol === "multipart" || (protocol === "" && /^multipart\//i.test(contentType))) return await multipartUpload(ctx, sessions, request, reply);
        return await rawUpload(ctx, sessions, request, reply);
      } finally {
        // Whatever was not read (a rejected request) is drained so the client gets our answer, not a reset.
        if (!request.raw.readableEnded) request.raw.resume();
      }
    },
  });
}

function header(request: FastifyRequest, name: string): string | undefined {
  const value = request.headers[name];
  return Array.isArray(value) ? value[0] : value;
}

/**
 * A header that may carry a non-ASCII file name. Node reads header bytes as latin1: curl and most HTTP
 * libraries send such names as raw UTF-8, which then reads as mojibake (`ð…-donnÃ©es.jsonl`); a value
 * whose bytes form valid UTF-8 is read as UTF-8. fetch-based clients (the genai SDK) can only send
 * latin1 characters, one byte each, which are not valid UTF-8 and stay as sent.
 */
function utf8Header(request: FastifyRequest, name: string): string | undefined {
  const value = header(request, name);
  if (value === undefined || !/[\u0080-\u00ff]/.test(value)) return value;
  const bytes = Buffer.from(value, "latin1");
  return isUtf8(bytes) ? bytes.toString("utf8") : value;
}

async function readSmallBody(request: FastifyRequest): Promise<string> {
  const parts: Buffer[] = [];
  let size = 0;
  for await (const chunk of readBody(request)) {
    size += chunk.length;
    if (size > MAX_START_BODY_BYTES) throw invalidArgument("The upload start request body is larger than 1 MiB; it should hold only the file metadata.", "file");
    parts.push(chunk);
  }
  return Buffer.concat(parts).toString("utf8");
}

interface FileFields {
  name: string | null;
  displayName: string | null;
  mimeType: string | null;
  sizeBytes: number | null;
}

/** `{"file": {...}}` (camelCase or snake_case); an empty body is no metadata. */
function parseFileMetadata(text: string): FileFields {
  const empty: FileFields = { name: null, displayName: null, mimeType: null, sizeBytes: null };
  if (text.trim().length === 0) return empty;
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw invalidArgument(`Invalid JSON payload received: ${(error as Error).message}. The upload metadata must be JSON like {"file": {"displayName": "x", "mimeType": "jsonl"}}.`, "file");
  }
  if (!isObject(value)) throw invalidArgument('The upload metadata must be a JSON object like {"file": {...}}.', "file");
  const file = field(value, "file");
  if (file === undefined) return empty;
  if (!isObject(file)) throw invalidArgument("'file' must be an object.", "file");
  const text_ = (key: string): string | null => {
    const raw = field(file, key);
    if (raw === undefined || raw === null || raw === "") return null;
    if (typeof raw !== "string") throw invalidArgument(`'file.${key}' must be a string.`, `file.${key}`);
    return raw;
  };
  const sizeRaw = field(file, "sizeBytes");
  const sizeBytes = sizeRaw === undefined || sizeRaw === null ? null : asInt64(sizeRaw);
  if (sizeRaw !== undefined && sizeRaw !== null && (sizeBytes === null || sizeBytes < 0)) {
    throw invalidArgument("'file.sizeBytes' must be a non-negative integer.", "file.sizeBytes");
  }
  return { name: text_("name"), displayName: text_("displayName"), mimeType: text_("mimeType"), sizeBytes };
}

/** Checks the metadata and reserves the file id. */
async function prepareUpload(ctx: AppContext, sessions: UploadSessions, request: FastifyRequest, fields: FileFields): Promise<{ metadata: UploadMetadata; declaredBytes: number | null }> {
  const declaredHeader = header(request, "x-goog-upload-header-content-length");
  let declaredBytes = fields.sizeBytes;
  if (declaredHeader !== undefined) {
    const parsed = asInt64(declaredHeader);
    if (parsed === null || parsed < 0) throw invalidArgument("X-Goog-Upload-Header-Content-Length must be the file size in bytes.", "X-Goog-Upload-Header-Content-Length");
    declaredBytes = parsed;
  }
  const tenant = callerOf(request).tenant;
  const quota = await ctx.tenants.maxFileBytes(tenant);
  const limit = Math.min(ctx.config.limits.maxGeminiUploadBytes, quota ?? Number.POSITIVE_INFINITY);
  const limitIsQuota = quota !== null && quota === limit;
  if (declaredBytes !== null && declaredBytes > limit) {
    if (limitIsQuota) throw fileQuotaError(tenant, limit);
    throw new AppError("payload_too_large", `The file is ${declaredBytes} bytes; the largest upload this server accepts is ${limit} bytes.`, { param: "file.sizeBytes" });
  }
  if (fields.displayName !== null && fields.displayName.length > 512) {
    throw invalidArgument("'file.displayName' must be at most 512 characters.", "file.displayName");
  }
  let fileId = newFileId();
  if (fields.name !== null) {
    fileId = stripFilesPrefix(fields.name);
    if (!isValidFileId(fileId)) {
      throw invalidArgument(
        `'file.name' ${JSON.stringify(fields.name)} is not a valid file name: use files/<id> where <id> has at most 40 lower-case letters, digits or dashes and does not start or end with a dash.`,
        "file.name",
      );
    }
    if (sessions.reserves(fileId) || (await ctx.store.getFile(fileId)) !== null) {
      throw new AppError("already_exists", `A file named files/${fileId} already exists; choose another name or delete it first.`, { param: "file.name" });
    }
  }
  const mimeType = fields.mimeType ?? header(request, "x-goog-upload-header-content-type") ?? "application/octet-stream";
  const filename = utf8Header(request, "x-goog-upload-file-name") ?? fields.displayName ?? fileId;
  return { metadata: { fileId, tenant, maxBytes: limit, maxBytesIsQuota: limitIsQuota, displayName: fields.displayName, mimeType, filename }, declaredBytes };
}

async function startSession(ctx: AppContext, sessions: UploadSessions, request: FastifyRequest, reply: FastifyReply): Promise<FastifyReply> {
  const command = header(request, "x-goog-upload-command")?.toLowerCase().trim();
  if (command !== "start") {
    throw invalidArgument(`A resumable upload starts with X-Goog-Upload-Command: start (got ${JSON.stringify(command ?? null)}).`, "X-Goog-Upload-Command");
  }
  const nowMs = ctx.clock.now();
  await sessions.sweep(nowMs);
  const { metadata, declaredBytes } = await prepareUpload(ctx, sessions, request, parseFileMetadata(await readSmallBody(request)));
  const writer = await ctx.blobs.createWriter(metadata.fileId);
  const session = sessions.add({ id: `${randomToken(32)}`, metadata, declaredBytes, writer, touchedAtMs: nowMs });
  // Absolute (the SDK parses it with new URL) and self-sufficient in path + query (the SDK swaps in the
  // scheme and host of its own baseUrl).
  const url = `${requestOrigin(request)}/upload/v1beta/files?upload_id=${session.id}&upload_protocol=resumable`;
  return reply
    .code(200)
    .header("x-goog-upload-url", url)
    .header("x-goog-upload-control-url", url)
    .header("x-goog-upload-status", "active")
    .header("x-goog-upload-chunk-granularity", CHUNK_GRANULARITY)
    .send();
}

/** Appends the request body to `writer`, enforcing the declared size and the server limit. */
async function appendBody(request: FastifyRequest, writer: BlobWriter, declaredBytes: number | null, metadata: UploadMetadata): Promise<void> {
  for await (const chunk of readBody(request)) {
    const total = writer.bytesWritten + chunk.length;
    if (declaredBytes !== null && total > declaredBytes) {
      throw invalidArgument(`The upload sent more bytes than the ${declaredBytes} declared in X-Goog-Upload-Header-Content-Length.`, "X-Goog-Upload-Header-Content-Length");
    }
    if (total > metadata.maxBytes) throw tooLarge(metadata);
    await writer.write(chunk);
  }
}

async function sessionRequest(ctx: AppContext, sessions: UploadSessions, uploadId: string, request: FastifyRequest, reply: FastifyReply): Promise<FastifyReply> {
  const session = sessions.get(uploadId);
  // Another tenant's session is answered as one that does not exist.
  if (!session || !canSee(callerOf(request), session.metadata.tenant)) {
    throw new AppError("not_found", "No such upload session: it finished long ago, was never started, or this server restarted since (sessions live in memory). Start the upload again.", { param: "upload_id" });
  }
  const commands = new Set((header(request, "x-goog-upload-command") ?? "").toLowerCase().split(",").map((part) => part.trim()).filter(Boolean));
  const nowMs = ctx.clock.now();
  const received = (): string => String(session.writer?.bytesWritten ?? 0);

  if (session.state === "final") {
    // A retried finalize (the client missed our answer) gets the same file back.
    reply.header("x-goog-upload-status", "final");
    return reply.code(200).type("application/json").send(JSON.stringify(session.finalBody));
  }
  if (session.state !== "active") {
    reply.header("x-goog-upload-status", session.state === "cancelled" ? "cancelled" : "final");
    throw invalidArgument(`This upload session can no longer be used: ${session.failure ?? "it ended"}. Start the upload again.`, "upload_id");
  }
  if (commands.has("query")) {
    return reply.code(200).header("x-goog-upload-status", "active").header("x-goog-upload-size-received", received()).send();
  }
  if (commands.has("cancel")) {
    await sessions.fail(session, "cancelled", "it was cancelled by the client", nowMs);
    return reply.code(200).header("x-goog-upload-status", "cancelled").type("application/json").send("{}");
  }
  if (!commands.has("upload") && !commands.has("finalize")) {
    reply.header("x-goog-upload-status", "active");
    throw invalidArgument("X-Goog-Upload-Command must be 'upload', 'upload, finalize', 'finalize', 'query' or 'cancel'.", "X-Goog-Upload-Command");
  }
  if (session.busy) {
    reply.header("x-goog-upload-status", "active");
    throw new AppError("conflict", "Another request of this upload is still sending bytes; send chunks one after another.", { param: "upload_id" });
  }

  session.busy = true;
  try {
    const writer = session.writer;
    if (writer === null) throw new Error("active upload session without a writer");
    const offsetHeader = header(request, "x-goog-upload-offset");
    const offset = offsetHeader === undefined ? writer.bytesWritten : asInt64(offsetHeader);
    if (offset !== writer.bytesWritten) {
      const reason = `X-Goog-Upload-Offset was ${offsetHeader} but ${writer.bytesWritten} bytes had been received`;
      await sessions.fail(session, "failed", reason, nowMs);
      throw invalidArgument(`${reason}; the upload is abandoned and nothing was kept. Start it again.`, "X-Goog-Upload-Offset");
    }
    if (commands.has("upload")) {
      try {
        await appendBody(request, writer, session.declaredBytes, session.metadata);
      } catch (error) {
        if (error instanceof AppError || error instanceof BlobTooLargeError) {
          await sessions.fail(session, "failed", error.message, ctx.clock.now());
          reply.header("connection", "close");
        }
        // A client that disconnected mid-chunk keeps its session: it may query the size and resume.
        throw error;
      }
    }
    session.touchedAtMs = ctx.clock.now();
    if (!commands.has("finalize")) {
      return reply.code(200).header("x-goog-upload-status", "active").header("x-goog-upload-size-received", received()).send();
    }
    if (session.declaredBytes !== null && writer.bytesWritten !== session.declaredBytes) {
      const reason = `the upload was finalized after ${writer.bytesWritten} bytes but ${session.declaredBytes} were declared (truncated upload)`;
      await sessions.fail(session, "failed", reason, ctx.clock.now());
      throw invalidArgument(`The upload was finalized after ${writer.bytesWritten} bytes but X-Goog-Upload-Header-Content-Length declared ${session.declaredBytes} (truncated upload); nothing was kept.`, "X-Goog-Upload-Header-Content-Length");
    }
    session.writer = null;
    const file = await commitFile(ctx, session.metadata, writer);
    const body = { file: toGeminiFile(file, requestOrigin(request)) };
    session.state = "final";
    session.finalBody = body;
    return reply.code(200).header("x-goog-upload-status", "final").type("application/json").send(JSON.stringify(body));
  } finally {
    session.busy = false;
    const state = session.state as UploadSession["state"];
    if (state !== "active") reply.header("x-goog-upload-status", state === "cancelled" ? "cancelled" : "final");
  }
}

/** Makes the blob visible and registers the File; on failure nothing is left behind. */
async function commitFile(ctx: AppContext, metadata: UploadMetadata, writer: BlobWriter): Promise<FileRecord> {
  let committed = false;
  try {
    // Checked again: a client-chosen name may have been taken while the bytes were arriving.
    if ((await ctx.store.getFile(metadata.fileId)) !== null) {
      throw new AppError("already_exists", `A file named files/${metadata.fileId} already exists; choose another name or delete it first.`, { param: "file.name" });
    }
    const info = await writer.commit();
    committed = true;
    await ctx.tenants.requireRoom(metadata.tenant, { bytes: info.bytes });
    const nowMs = ctx.clock.now();
    return await ctx.store.createFile({
      id: metadata.fileId,
      tenant: metadata.tenant,
      purpose: UPLOADED_PURPOSE,
      filename: metadata.filename,
      displayName: metadata.displayName,
      mimeType: metadata.mimeType,
      bytes: info.bytes,
      sha256: info.sha256,
      source: "uploaded",
      createdAtMs: nowMs,
      expiresAtMs: nowMs + FILE_RETENTION_MS,
    });
  } catch (error) {
    if (committed) await ctx.blobs.delete(metadata.fileId).catch(() => false);
    else await writer.abort().catch(() => undefined);
    throw error;
  }
}

/** `X-Goog-Upload-Protocol: multipart`: metadata part, then the media part, in one request. */
async function multipartUpload(ctx: AppContext, sessions: UploadSessions, request: FastifyRequest, reply: FastifyReply): Promise<FastifyReply> {
  const boundary = boundaryOf(header(request, "content-type") ?? "");
  if (boundary === null) throw invalidArgument("A multipart upload needs Content-Type: multipart/related; boundary=...", "Content-Type");
  let prepared: { metadata: UploadMetadata; declaredBytes: number | null } | null = null;
  let writer: BlobWriter | null = null;
  const ensureWriter = async (): Promise<BlobWriter> => {
    prepared ??= await prepareUpload(ctx, sessions, request, parseFileMetadata(""));
    writer ??= await ctx.blobs.createWriter(prepared.metadata.fileId);
    return writer;
  };
  try {
    const sawMedia = await readMultipart(readBody(request), boundary, {
      onMetadata: async (text) => {
        prepared = await prepareUpload(ctx, sessions, request, parseFileMetadata(text));
      },
      onMedia: async (chunk) => {
        const target = await ensureWriter();
        const total = target.bytesWritten + chunk.length;
        const limits = (prepared as { metadata: UploadMetadata } | null)?.metadata;
        if (limits !== undefined && total > limits.maxBytes) throw tooLarge(limits);
        await target.write(chunk);
      },
    });
    if (!sawMedia) throw invalidArgument("The multipart upload has no media part after the metadata.", "file");
    const target = await ensureWriter();
    const done = prepared as { metadata: UploadMetadata; declaredBytes: number | null } | null;
    if (done === null) throw new Error("multipart upload without metadata state");
    writer = null;
    const file = await commitFile(ctx, done.metadata, target);
    return reply.code(200).type("application/json").send(JSON.stringify({ file: toGeminiFile(file, requestOrigin(request)) }));
  } catch (error) {
    const open = writer as BlobWriter | null;
    await open?.abort().catch(() => undefined);
    throw error;
  }
}

/** No protocol header: the body is the file; metadata only from X-Goog-Upload-* headers. */
async function rawUpload(ctx: AppContext, sessions: UploadSessions, request: FastifyRequest, reply: FastifyReply): Promise<FastifyReply> {
  const { metadata, declaredBytes } = await prepareUpload(ctx, sessions, request, parseFileMetadata(""));
  const writer = await ctx.blobs.createWriter(metadata.fileId);
  try {
    await appendBody(request, writer, declaredBytes, metadata);
  } catch (error) {
    await writer.abort().catch(() => undefined);
    throw error;
  }
  const file = await commitFile(ctx, metadata, writer);
  return reply.code(200).type("application/json").send(JSON.stringify({ file: toGeminiFile(file, requestOrigin(request)) }));
}

function tooLarge(metadata: UploadMetadata): Error {
  return metadata.maxBytesIsQuota ? fileQuotaError(metadata.tenant, metadata.maxBytes) : new BlobTooLargeError(metadata.maxBytes);
}
