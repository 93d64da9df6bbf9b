/**
 * Up-front checks of the media parts of one request body (issue 18), run by each dialect's `parseLine` so a
 * bad image fails its line at validation, naming the part, instead of at dispatch or at the upstream:
 * well-formed base64, the data URL shape, a MIME type some engine takes, and (for a reference) that it is
 * one of spool's Files at all. Whether a referenced File exists is asked of the Store afterwards
 * (`BatchFormat.mediaReferences`, checked by validation), since these checks are pure.
 */
import type { Dialect } from "../../core/types.ts";
import { describeMediaKinds, isBase64, isMediaTypeOf, type MediaKind, type MediaReference } from "../../core/media.ts";
import { asObject, asString, field, type JsonObject } from "./json-fields.ts";
import { findMediaReferences, geminiFileIds, mediaParts } from "./media-references.ts";

export interface MediaProblem {
  code: "invalid_media" | "unsupported_media_type";
  param: string;
  message: string;
}

const DATA_URL = /^data:([^;,]*)(;[^,]*)?,/;

/** Problems of the media parts of `body`; `root` starts every path (`body.`, `request.`, `params.`). */
export function checkMediaParts(dialect: Dialect, body: JsonObject, root: string): MediaProblem[] {
  const problems: MediaProblem[] = [];
  for (const { part, path } of mediaParts(dialect, body)) {
    const at = `${root}${path}`;
    const problem = dialect === "gemini" ? geminiPartProblem(part, at) : dialect === "openai" ? openAIPartProblem(part, at) : anthropicPartProblem(part, at);
    if (problem !== null) problems.push(problem);
  }
  return problems;
}

/** The media references of `body`, their paths starting with `root`. */
export function mediaReferencesOf(dialect: Dialect, body: JsonObject, root: string): MediaReference[] {
  return findMediaReferences(dialect, body).map((reference) => ({ ...reference, path: `${root}${reference.path}` }));
}

function invalid(param: string, message: string): MediaProblem {
  return { code: "invalid_media", param, message: `${param} ${message}` };
}

function checkData(data: unknown, param: string): MediaProblem | null {
  if (typeof data !== "string" || data.length === 0) return invalid(param, "must be the media's bytes as a non-empty base64 string.");
  if (!isBase64(data)) return invalid(param, "is not well-formed base64 (standard alphabet A-Z a-z 0-9 + /, with = padding).");
  return null;
}

function checkType(mimeType: unknown, param: string, kinds: readonly MediaKind[]): MediaProblem | null {
  if (typeof mimeType !== "string" || mimeType.length === 0) return invalid(param, "is required: the media's MIME type, e.g. image/png.");
  if (!isMediaTypeOf(mimeType, kinds)) {
    return { code: "unsupported_media_type", param, message: `${param} is ${JSON.stringify(mimeType)}, not a media type spool sends; use one of ${describeMediaKinds(kinds)}.` };
  }
  return null;
}

/** A `data:<mime>;base64,<data>` URL holding one of `kinds`. */
function checkDataUrl(url: string, param: string, kinds: readonly MediaKind[]): MediaProblem | null {
  const match = DATA_URL.exec(url);
  if (match === null || match[2] !== ";base64") return invalid(param, "must be a data URL like data:image/png;base64,<data> (or an http(s) URL).");
  return checkType(match[1], param, kinds) ?? checkData(url.slice(match[0].length), param);
}

function geminiPartProblem(part: JsonObject, at: string): MediaProblem | null {
  const inline = asObject(field(part, "inlineData"));
  if (inline !== undefined) {
    const mimeType = field(inline, "mimeType");
    return checkType(mimeType, `${at}.inlineData.mimeType`, ["image", "document", "audio", "video"]) ?? checkData(inline.data, `${at}.inlineData.data`);
  }
  const fileData = asObject(field(part, "fileData"));
  if (fileData === undefined) return null;
  const uri = asString(field(fileData, "fileUri"));
  if (uri === undefined || uri.length === 0) return invalid(`${at}.fileData.fileUri`, "is required: files/{id} or the uri of an uploaded File.");
  const mimeType = field(fileData, "mimeType");
  // A spool File's type comes from its upload; a remote URI needs one, and it must be one Gemini takes.
  if (geminiFileIds(uri) !== null) return mimeType === undefined ? null : checkType(mimeType, `${at}.fileData.mimeType`, ["image", "document", "audio", "video"]);
  return null;
}

function openAIPartProblem(part: JsonObject, at: string): MediaProblem | null {
  if (part.type === "image_url") {
    const url = asString(asObject(part.image_url)?.url);
    if (url === undefined) return invalid(`${at}.image_url.url`, "is required: an http(s) URL, a data URL, or a spool File's content URL.");
    return url.startsWith("data:") ? checkDataUrl(url, `${at}.image_url.url`, ["image"]) : null;
  }
  if (part.type === "input_audio") {
    const audio = asObject(part.input_audio);
    const format = audio?.format;
    if (format !== "wav" && format !== "mp3") return invalid(`${at}.input_audio.format`, `must be "wav" or "mp3", found ${JSON.stringify(format ?? null)}.`);
    return checkData(audio?.data, `${at}.input_audio.data`);
  }
  if (part.type === "file") {
    const file = asObject(part.file);
    const fileData = asString(file?.file_data);
    if (fileData !== undefined) return checkDataUrl(fileData, `${at}.file.file_data`, ["image", "document", "audio", "video"]);
    if (asString(file?.file_id) === undefined) return invalid(`${at}.file`, "needs file_id (a File uploaded to spool) or file_data (a data URL).");
  }
  return null;
}

function anthropicPartProblem(part: JsonObject, at: string): MediaProblem | null {
  if (part.type !== "image" && part.type !== "document") return null;
  const source = asObject(part.source);
  if (source?.type !== "base64") return null;
  const kinds = part.type === "image" ? (["image"] as const) : (["document"] as const);
  return checkType(source.media_type, `${at}.source.media_type`, kinds) ?? checkData(source.data, `${at}.source.data`);
}
