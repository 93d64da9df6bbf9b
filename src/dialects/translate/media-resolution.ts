/**
 * Resolves a request's media references (media-references.ts) for the Engine that runs it (decision 0024).
 *
 * Two steps around translation, so every dialect pair handles references without knowing about them:
 * 1. `prepare`, in the request's dialect: each reference is looked up (MediaFiles.find: exists, not
 *    expired, the tenant's, not too large) and rewritten into the dialect's inline form whose data is a
 *    placeholder: a 32-character base64-alphabet token, random per process, that no translator inspects.
 *    A bad reference fails here, as a 400 in the request's dialect naming the part.
 * 2. `fill`, on the body in the Engine's dialect (translated or not): every placeholder becomes the File's
 *    bytes (base64 from the MediaFiles cache: read once, shared by every Item naming the File), or, for an
 *    Engine that keeps files itself (`Engine.fileReference`, the gemini Engine), the Gemini inlineData part
 *    holding it becomes `fileData` naming the upload, so the bytes go upstream once, not once per Item.
 *
 * Translating with placeholders also keeps the bytes out of the translators: a 5 MB image is not copied
 * through a data URL, a regex and a new object per dialect hop.
 */
import { randomBytes } from "node:crypto";
import { EngineError, type Engine, type EngineRequest } from "../../core/engine.ts";
import { MediaFileError, type MediaFile, type MediaFiles, type MediaReference } from "../../core/media.ts";
import type { Dialect } from "../../core/types.ts";
import { errorBodyIn } from "./error-bodies.ts";
import { isObject, type JsonObject } from "./json-fields.ts";
import { findMediaReferences, inlineMediaReferences } from "./media-references.ts";

/** Where field paths of each dialect's request bodies start in its error messages. */
const PATH_ROOT: Record<Dialect, string> = { gemini: "request.", openai: "", anthropic: "" };

const NONCE = randomBytes(12).toString("base64").replace(/[^A-Za-z0-9]/g, "A").slice(0, 16).padEnd(16, "A");
const TOKEN = new RegExp(`SPOOLMEDIA${NONCE}(\\d{6})`, "g");

function tokenOf(index: number): string {
  return `SPOOLMEDIA${NONCE}${String(index).padStart(6, "0")}`;
}

/** A request whose references were rewritten into placeholders; `fill` puts the media in. */
export interface PreparedMedia {
  body: JsonObject;
  fill(native: JsonObject, engine: Engine, request: EngineRequest): Promise<JsonObject>;
}

interface Found {
  file: MediaFile;
  reference: MediaReference;
}

/** Null when the body names no File (the common case: nothing is copied). */
export async function prepareMedia(media: MediaFiles, request: EngineRequest): Promise<PreparedMedia | null> {
  const references = findMediaReferences(request.dialect, request.body);
  if (references.length === 0) return null;
  const found: Found[] = [];
  const byPath = new Map<string, { file: MediaFile; data: string }>();
  for (const reference of references) {
    const file = await findReferenced(media, reference, request);
    byPath.set(reference.path, { file, data: tokenOf(found.length) });
    found.push({ file, reference });
  }
  return {
    body: inlineMediaReferences(request.dialect, request.body, byPath),
    fill: (native, engine, target) => fillMedia(native, found, media, engine, { native: target, dialect: request.dialect }),
  };
}

async function findReferenced(media: MediaFiles, reference: MediaReference, request: EngineRequest): Promise<MediaFile> {
  let firstError: MediaFileError | null = null;
  for (const fileId of reference.fileIds) {
    try {
      return await media.find(fileId, request.owner ?? null);
    } catch (error) {
      if (!(error instanceof MediaFileError)) throw error;
      // A later candidate may exist; a File that exists but cannot be sent explains itself at once.
      if (error.problem !== "not_found") throw mediaError(error, reference, request.dialect);
      firstError ??= error;
    }
  }
  throw mediaError(firstError ?? new MediaFileError("not_found", `File ${reference.written} does not exist.`), reference, request.dialect);
}

/** A reference that cannot be sent: the Item's own 400 naming the part (only an unreadable blob is retried). */
export function mediaError(error: MediaFileError, reference: MediaReference, dialect: Dialect): EngineError {
  const param = `${PATH_ROOT[dialect]}${reference.path}`;
  const message = `${param} refers to ${JSON.stringify(reference.written)}: ${error.message}`;
  if (error.problem === "unreadable") return new EngineError({ kind: "engine", message, retryable: true, cause: error });
  return new EngineError({ kind: "unsupported", message, statusCode: 400, body: errorBodyIn(dialect, 400, message, param), retryable: false, cause: error });
}

async function fillMedia(native: JsonObject, found: readonly Found[], media: MediaFiles, engine: Engine, request: { native: EngineRequest; dialect: Dialect }): Promise<JsonObject> {
  const placed = { referable: new Set<number>(), inline: new Set<number>() };
  collectTokens(native, placed);
  const data = new Map<number, string>();
  const references = new Map<number, string>();
  const load = async (index: number, byReference: boolean): Promise<void> => {
    const entry = found[index];
    if (entry === undefined) return;
    try {
      if (byReference && engine.fileReference !== undefined) references.set(index, await engine.fileReference(entry.file, () => media.open(entry.file), request.native));
      else data.set(index, await media.base64(entry.file));
    } catch (error) {
      if (error instanceof MediaFileError) throw mediaError(error, entry.reference, request.dialect);
      throw error;
    }
  };
  for (const index of placed.referable) await load(index, true);
  for (const index of placed.inline) await load(index, false);
  return replaceTokens(native, (index) => found[index]?.file, data, references) as JsonObject;
}

const WHOLE_TOKEN = new RegExp(`^SPOOLMEDIA${NONCE}(\\d{6})$`);

/** The placeholder a Gemini part's inlineData holds as its whole data, if any. */
function inlineToken(value: JsonObject): number | null {
  const inline = isObject(value.inlineData) ? value.inlineData : null;
  const match = inline !== null && typeof inline.data === "string" ? WHOLE_TOKEN.exec(inline.data) : null;
  return match === null ? null : Number(match[1]);
}

/** Placeholders that stand alone as a Gemini part's inlineData (`referable`: an upload may replace the part) and the rest. */
function collectTokens(value: unknown, into: { referable: Set<number>; inline: Set<number> }): void {
  if (typeof value === "string") {
    if (!value.includes("SPOOLMEDIA")) return;
    for (const match of value.matchAll(TOKEN)) into.inline.add(Number(match[1]));
  } else if (Array.isArray(value)) {
    for (const element of value) collectTokens(element, into);
  } else if (isObject(value)) {
    const token = inlineToken(value);
    if (token !== null) into.referable.add(token);
    else for (const element of Object.values(value)) collectTokens(element, into);
  }
}

/**
 * A copy of `value` with placeholders replaced: by base64 text, or (a Gemini part whose inlineData holds
 * exactly one placeholder) by a fileData part naming the Engine's upload.
 */
function replaceTokens(value: unknown, fileOf: (index: number) => MediaFile | undefined, data: ReadonlyMap<number, string>, references: ReadonlyMap<number, string>): unknown {
  if (typeof value === "string") {
    if (!value.includes("SPOOLMEDIA")) return value;
    return value.replace(TOKEN, (whole, index: string) => data.get(Number(index)) ?? whole);
  }
  if (Array.isArray(value)) return value.map((element) => replaceTokens(element, fileOf, data, references));
  if (!isObject(value)) return value;
  const token = inlineToken(value);
  const uri = token === null ? undefined : references.get(token);
  if (token !== null && uri !== undefined) {
    const { inlineData: _inline, ...rest } = value;
    return { ...rest, fileData: { mimeType: fileOf(token)?.mimeType, fileUri: uri } };
  }
  return Object.fromEntries(Object.entries(value).map(([key, element]) => [key, replaceTokens(element, fileOf, data, references)]));
}
