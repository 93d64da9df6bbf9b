/**
 * Gemini File resources: the wire shape, and how resource names map to spool File ids.
 *
 * spool File ids look like `file-<base36>` (result files `file-<base36>-output`). The genai SDK, given a
 * File object with an `https://` `uri`, keeps only the first `[a-z0-9]+` run after `files/` — `file` for
 * such ids. So `uri` carries the bare token (`https://HOST/v1beta/files/<base36>`), and lookups accept that
 * token as well as the full id. Client-chosen names containing `-` cannot survive that SDK path; users pass
 * `file.name` (always works) instead of the File object.
 */
import type { FastifyRequest } from "fastify";
import type { AppContext } from "../../app-context.ts";
import { AppError } from "../../core/errors.ts";
import type { Caller } from "../../core/tenancy.ts";
import type { FileRecord } from "../../core/types.ts";
import { visibleFile } from "../shared/caller.ts";
import { int64, toTimestamp, type Json } from "../../dialects/gemini/wire.ts";

/** Purpose of the internal JSONL written for inline batch requests; never listed by files.list. */
export { INLINE_INPUT_PURPOSE } from "../../batches/batch-service.ts";

/** Gemini file ids: ≤ 40 chars of `[a-z0-9-]`, not starting or ending with `-`. */
const FILE_ID = /^[a-z0-9](?:[a-z0-9-]{0,38}[a-z0-9])?$/;

export function isValidFileId(id: string): boolean {
  return FILE_ID.test(id);
}

/** `files/abc` or `abc` → `abc`. */
export function stripFilesPrefix(name: string): string {
  return name.startsWith("files/") ? name.slice("files/".length) : name;
}

/** The `[a-z0-9]+` token the SDK can recover from a uri. */
export function uriToken(id: string): string {
  const match = /^file-([a-z0-9]+)(?:-output)?$/.exec(id);
  return match?.[1] ?? id;
}

/** Ids a path segment may stand for, most likely first: the id itself, or a uri token. */
function idCandidates(raw: string): string[] {
  const bare = stripFilesPrefix(raw);
  if (!/^[a-z0-9]+$/.test(bare)) return [bare];
  return [bare, `file-${bare}`, `file-${bare}-output`];
}

export async function findFile(ctx: AppContext, caller: Caller, raw: string, fieldPath = "name"): Promise<FileRecord> {
  for (const id of idCandidates(raw)) {
    const file = await visibleFile(ctx, caller, id);
    if (file) return file;
  }
  const where = fieldPath === "name" ? "" : `${fieldPath}: `;
  throw new AppError("not_found", `${where}File files/${stripFilesPrefix(raw)} was not found (it may have expired or been deleted).`, { param: fieldPath });
}

/** `http://host:port` as the client reached us (Host header), for absolute URLs in replies. */
export function requestOrigin(request: FastifyRequest): string {
  return `${request.protocol}://${request.host}`;
}

function downloadMimeType(mimeType: string | null): string {
  return mimeType !== null && /^[\w.+-]+\/[\w.+-]+$/.test(mimeType) ? mimeType : "application/octet-stream";
}

export function contentTypeForDownload(file: FileRecord): string {
  return downloadMimeType(file.mimeType);
}

export function toGeminiFile(file: FileRecord, origin: string): Json {
  const host = origin.replace(/^\w+:\/\//, "");
  const resource: Json = {
    name: `files/${file.id}`,
    displayName: file.displayName ?? file.filename,
    mimeType: file.mimeType ?? "application/octet-stream",
    sizeBytes: int64(file.bytes),
    createTime: toTimestamp(file.createdAtMs),
    updateTime: toTimestamp(file.createdAtMs),
    // Real service: base64 of the lower-case hex digest (not of the raw digest bytes).
    sha256Hash: Buffer.from(file.sha256, "utf8").toString("base64"),
    // https-style so the SDK can parse it (see the module comment); the scheme spool serves may differ.
    uri: `https://${host}/v1beta/files/${uriToken(file.id)}`,
    downloadUri: `${origin}/download/v1beta/files/${file.id}:download?alt=media`,
    state: "ACTIVE",
    source: file.source === "generated" ? "GENERATED" : "UPLOADED",
  };
  if (file.expiresAtMs !== null) resource.expirationTime = toTimestamp(file.expiresAtMs);
  return resource;
}
