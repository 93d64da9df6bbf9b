/**
 * Media references in each dialect's request bodies: parts that name a File spool holds instead of carrying
 * its bytes (decision 0024). Finding them is pure; resolving them is media-resolution.ts's job.
 *
 * - Gemini: a part `fileData: {fileUri}` whose URI is `files/{id}` or the `uri` / `downloadUri` spool
 *   returned at upload (`http(s)://HOST/v1beta/files/{token}`). A URI on a Google host is Google's own file
 *   and left alone: it still reaches a `gemini` Engine as written.
 * - OpenAI (chat): a content part `{type: "file", file: {file_id}}`, or an `image_url` whose URL is a spool
 *   File's content URL (`http(s)://HOST/v1/files/{id}/content`, also under `/v1beta/openai/`).
 * - Anthropic: an `image` or `document` block whose `source` is `{type: "file", file_id}`.
 *
 * A reference is rewritten into the dialect's own inline form (inlineData; a data URL, `input_audio` or a
 * `file` part chosen by MIME type; a base64 source) carrying `data`, which the caller chooses: the bytes'
 * base64, or a placeholder replaced after translation (media-resolution.ts).
 */
import type { Dialect } from "../../core/types.ts";
import type { MediaFile, MediaReference } from "../../core/media.ts";
import { asObject, asString, field, isObject, type JsonObject } from "./json-fields.ts";

/** Replaces one referring part; undefined keeps it. */
type PartVisitor = (part: JsonObject, path: string) => JsonObject | undefined;

/** Every media reference in `body`, in order. */
export function findMediaReferences(dialect: Dialect, body: JsonObject): MediaReference[] {
  const found: MediaReference[] = [];
  visitParts(dialect, body, (part, path) => {
    const reference = referenceOf(dialect, part, path);
    if (reference !== null) found.push(reference);
    return undefined;
  });
  return found;
}

/** `body` with each reference replaced by an inline part of `files.get(path)` whose data is `data`. */
export function inlineMediaReferences(dialect: Dialect, body: JsonObject, files: ReadonlyMap<string, { file: MediaFile; data: string }>): JsonObject {
  return visitParts(dialect, body, (part, path) => {
    const reference = referenceOf(dialect, part, path);
    const resolved = reference === null ? undefined : files.get(reference.path);
    return resolved === undefined ? undefined : inlinePart(dialect, part, resolved.file, resolved.data);
  });
}

/** Copy-on-write walk over the parts that may hold media; untouched branches are shared with `body`. */
function visitParts(dialect: Dialect, body: JsonObject, visit: PartVisitor): JsonObject {
  if (dialect === "gemini") {
    const contents = field(body, "contents");
    if (!Array.isArray(contents)) return body;
    const rewritten = mapList(contents, "contents", (content, path) => {
      const parts = isObject(content) ? field(content, "parts") : undefined;
      if (!Array.isArray(parts)) return undefined;
      const next = mapList(parts, `${path}.parts`, (part, at) => (isObject(part) ? visit(part, at) : undefined));
      return next === parts ? undefined : { ...(content as JsonObject), parts: next };
    });
    return rewritten === contents ? body : { ...body, contents: rewritten };
  }
  const messages = body.messages;
  if (!Array.isArray(messages)) return body;
  const rewritten = mapList(messages, "messages", (message, path) => {
    const content = isObject(message) ? message.content : undefined;
    if (!Array.isArray(content)) return undefined;
    const next = mapList(content, `${path}.content`, (part, at) => (isObject(part) ? visit(part, at) : undefined));
    return next === content ? undefined : { ...(message as JsonObject), content: next };
  });
  return rewritten === messages ? body : { ...body, messages: rewritten };
}

/** `list` with some elements replaced, or `list` itself when none was. */
function mapList(list: unknown[], path: string, replace: (element: unknown, path: string) => JsonObject | undefined): unknown[] {
  let copy: unknown[] | null = null;
  list.forEach((element, index) => {
    const next = replace(element, `${path}[${index}]`);
    if (next === undefined) return;
    copy ??= [...list];
    copy[index] = next;
  });
  return copy ?? list;
}

function referenceOf(dialect: Dialect, part: JsonObject, path: string): MediaReference | null {
  if (dialect === "gemini") {
    const fileData = asObject(field(part, "fileData"));
    const uri = fileData === undefined ? undefined : asString(field(fileData, "fileUri"));
    const fileIds = uri === undefined ? null : geminiFileIds(uri);
    return fileIds === null || uri === undefined ? null : { path: `${path}.fileData.fileUri`, fileIds, written: uri };
  }
  if (dialect === "openai") {
    if (part.type === "file") {
      const fileId = asString(asObject(part.file)?.file_id);
      return fileId === undefined ? null : { path: `${path}.file.file_id`, fileIds: openAIFileIds(fileId), written: fileId };
    }
    if (part.type === "image_url") {
      const url = asString(asObject(part.image_url)?.url);
      const fileId = url === undefined ? null : openAIContentUrlId(url);
      return fileId === null || url === undefined ? null : { path: `${path}.image_url.url`, fileIds: openAIFileIds(fileId), written: url };
    }
    return null;
  }
  const source = asObject(part.source);
  if ((part.type !== "image" && part.type !== "document") || source?.type !== "file") return null;
  const fileId = asString(source.file_id);
  return fileId === undefined ? null : { path: `${path}.source.file_id`, fileIds: [fileId], written: fileId };
}

/** Hosts whose `/v1beta/files/...` URIs are Google's own Files, never spool's. */
const GOOGLE_HOST = /(^|\.)googleapis\.com$/i;

/** Ids a Gemini fileUri may name, or null when it is not one of spool's. */
export function geminiFileIds(uri: string): string[] | null {
  let name: string | undefined;
  if (uri.startsWith("files/")) {
    name = uri.slice("files/".length);
  } else {
    let url: URL;
    try {
      url = new URL(uri);
    } catch {
      return null;
    }
    if ((url.protocol !== "http:" && url.protocol !== "https:") || GOOGLE_HOST.test(url.hostname)) return null;
    name = /\/v1beta\/files\/([A-Za-z0-9_-]+)(?::download)?$/.exec(url.pathname)?.[1];
  }
  if (name === undefined || !/^[A-Za-z0-9_-]+$/.test(name)) return null;
  // The `uri` spool returns carries the `[a-z0-9]+` token of `file-<token>` (src/api/gemini/files.ts).
  return /^[a-z0-9]+$/.test(name) ? [name, `file-${name}`] : [name];
}

/** `file-abc`, or the Gemini OpenAI-compatibility forms `files/abc` and `files/file-abc`. */
function openAIFileIds(fileId: string): string[] {
  if (!fileId.startsWith("files/")) return [fileId];
  const bare = fileId.slice("files/".length);
  return bare.startsWith("file-") ? [bare] : [bare, `file-${bare}`];
}

/** The File id of a spool content URL (`.../v1/files/{id}/content`), or null for any other URL. */
function openAIContentUrlId(url: string): string | null {
  if (!/^https?:\/\//i.test(url)) return null;
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return null;
  }
  const match = /\/v1(?:beta\/openai)?\/files\/(?:files\/)?([A-Za-z0-9_-]+)\/content$/.exec(parsed.pathname);
  return match?.[1] ?? null;
}

const OPENAI_AUDIO_FORMATS: Record<string, string> = { "audio/wav": "wav", "audio/x-wav": "wav", "audio/wave": "wav", "audio/mpeg": "mp3", "audio/mp3": "mp3" };

function inlinePart(dialect: Dialect, part: JsonObject, file: MediaFile, data: string): JsonObject {
  const mimeType = file.mimeType;
  if (dialect === "gemini") {
    const { fileData: _camel, file_data: _snake, ...rest } = part;
    return { ...rest, inlineData: { mimeType, data } };
  }
  if (dialect === "openai") {
    const dataUrl = `data:${mimeType};base64,${data}`;
    if (mimeType.startsWith("image/")) {
      const detail = asString(asObject(part.image_url)?.detail);
      return { type: "image_url", image_url: detail === undefined ? { url: dataUrl } : { url: dataUrl, detail } };
    }
    const audioFormat = OPENAI_AUDIO_FORMATS[mimeType];
    if (audioFormat !== undefined) return { type: "input_audio", input_audio: { data, format: audioFormat } };
    const filename = asString(asObject(part.file)?.filename) ?? file.filename;
    return { type: "file", file: { filename, file_data: dataUrl } };
  }
  return { ...part, source: { type: "base64", media_type: mimeType, data } };
}

/** The parts of `body` that hold media (inline or by reference) with their paths, for validation. */
export function mediaParts(dialect: Dialect, body: JsonObject): { part: JsonObject; path: string }[] {
  const parts: { part: JsonObject; path: string }[] = [];
  visitParts(dialect, body, (part, path) => {
    parts.push({ part, path });
    return undefined;
  });
  return parts;
}
