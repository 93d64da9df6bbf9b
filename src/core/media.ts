/**
 * Media Files: Files a request refers to instead of carrying their bytes (issue 18, decision 0024).
 *
 * A Gemini part `fileData: {fileUri}` naming a File spool holds, or an OpenAI content part naming one
 * (`file.file_id`, an `image_url` that is a spool File URL), is a **media reference**. References are found
 * and rewritten by the dialects (src/dialects/translate/media-references.ts) and resolved here, through one
 * contract the composition root implements over the Store and the BlobStore (src/store/media-files.ts):
 *
 * - `find` is the one place a reference becomes a File: it checks that the File exists, has not expired,
 *   is small enough to send, and (once tenancy lands) that it belongs to `owner`, the tenant of the Batch or
 *   sync request. Every path (validation, dispatch, upload to an engine) goes through it.
 * - `base64` gives the contents for engines that take bytes inline, read from the BlobStore once and kept in
 *   a cache bounded by bytes, so a Batch of thousands of Items naming one image reads it once.
 * - `open` streams the contents, for engines that take an upload instead (Gemini's Files API).
 *
 * What is deliberately left out: fetching remote URLs (a reference is always to spool's own Files) and
 * transcoding (the bytes go out as they were uploaded, with the MIME type recorded at upload).
 */
import type { Readable } from "node:stream";

/** A File a request refers to, as resolved for sending. */
export interface MediaFile {
  id: string;
  /** From the upload (or, when the upload named none, from the file name's extension). */
  mimeType: string;
  bytes: number;
  /** Lower-case hex SHA-256 of the contents: with the id, the key of every cache of this File's bytes. */
  sha256: string;
  /** A name to show an engine that wants one (the upload's file name). */
  filename: string;
}

export type MediaProblem = "not_found" | "expired" | "too_large" | "unknown_type" | "unreadable";

/**
 * Why a reference cannot be sent. Becomes a per-Item error naming the part (a 400 in the Item's dialect),
 * never a failure of the Batch; only `unreadable` (the BlobStore failed) is worth retrying.
 */
export class MediaFileError extends Error {
  constructor(
    readonly problem: MediaProblem,
    message: string,
  ) {
    super(message);
    this.name = "MediaFileError";
  }
}

export interface MediaFiles {
  /**
   * The File `fileId` names, checked for `owner` (the tenant of the request; null while spool has no
   * tenants). Throws MediaFileError when it cannot be sent.
   */
  find(fileId: string, owner: string | null): Promise<MediaFile>;
  /** The contents as base64, from the cache or read once from the BlobStore (concurrent callers share one read). */
  base64(file: MediaFile): Promise<string>;
  /** Streams the contents (one BlobStore read, not cached): for uploads to an engine's own file store. */
  open(file: MediaFile): Promise<Readable>;
}

/**
 * MIME types media parts may carry, by what they are; anything else is refused by validation. Images are
 * the formats every vision API takes; audio and video are any `audio/*` and `video/*` (engines differ in
 * which they decode, and the engine's own 400 names the rest); documents are PDF, any `text/*` and JSON.
 */
export type MediaKind = "image" | "document" | "audio" | "video";

const IMAGE_TYPES: ReadonlySet<string> = new Set(["image/png", "image/jpeg", "image/webp", "image/gif", "image/heic", "image/heif"]);

export function isMediaTypeOf(mimeType: string, kinds: readonly MediaKind[]): boolean {
  const type = mimeType.toLowerCase();
  return kinds.some((kind) => {
    if (kind === "image") return IMAGE_TYPES.has(type);
    if (kind === "audio" || kind === "video") return new RegExp(`^${kind}/[\\w.+-]+$`).test(type);
    return type === "application/pdf" || type === "application/json" || /^text\/[\w.+-]+$/.test(type);
  });
}

/** What the refusal of a type names as allowed. */
export function describeMediaKinds(kinds: readonly MediaKind[]): string {
  const names: Record<MediaKind, string> = { image: [...IMAGE_TYPES].join(", "), document: "application/pdf, application/json, text/*", audio: "audio/*", video: "video/*" };
  return kinds.map((kind) => names[kind]).join(", ");
}

const EXTENSION_TYPES: Record<string, string> = {
  png: "image/png", jpg: "image/jpeg", jpeg: "image/jpeg", webp: "image/webp", gif: "image/gif", heic: "image/heic", heif: "image/heif",
  pdf: "application/pdf", txt: "text/plain",
  wav: "audio/wav", mp3: "audio/mpeg", aac: "audio/aac", ogg: "audio/ogg", flac: "audio/flac", aiff: "audio/aiff",
  mp4: "video/mp4", mpeg: "video/mpeg", mov: "video/quicktime", avi: "video/avi", webm: "video/webm", wmv: "video/wmv", "3gp": "video/3gpp",
};

/**
 * The MIME type to send a File with: the one recorded at upload, unless it is missing or generic
 * (`application/octet-stream`, which multipart clients send when they do not know), then the file name's.
 */
export function mediaTypeOf(recorded: string | null, filename: string): string | null {
  const type = recorded?.toLowerCase().split(";")[0]?.trim();
  if (type && type !== "application/octet-stream") return type;
  const extension = /\.([a-z0-9]+)$/i.exec(filename)?.[1]?.toLowerCase();
  return extension === undefined ? null : (EXTENSION_TYPES[extension] ?? null);
}

/** Standard base64 (padding optional), as data URLs and Gemini inlineData carry it. */
export function isBase64(text: string): boolean {
  return /^[A-Za-z0-9+/]*={0,2}$/.test(text) && (text.length % 4 === 0 || !text.endsWith("="));
}

/** Bytes a base64 text decodes to, without decoding it. */
export function base64Bytes(text: string): number {
  const padding = text.endsWith("==") ? 2 : text.endsWith("=") ? 1 : 0;
  return Math.floor((text.length * 3) / 4) - padding;
}

/**
 * A part of a request body that names a File spool holds. `path` is the part's field path inside the body
 * (`contents[0].parts[1].fileData.fileUri`, `messages[0].content[1].file.file_id`); `fileIds` are the ids
 * the reference may stand for, most likely first (a Gemini URI carries a short token, not the whole id).
 */
export interface MediaReference {
  path: string;
  fileIds: string[];
  /** The reference as the client wrote it, for messages. */
  written: string;
}
