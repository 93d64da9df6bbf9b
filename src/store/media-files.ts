/**
 * MediaFiles (src/core/media.ts) over the Store and the BlobStore: how a media reference becomes a File and
 * its bytes.
 *
 * The cache holds base64 text (what inline engines send), keyed by File id and SHA-256, least recently used
 * first out, bounded by `cacheBytes` of text: a Batch of thousands of Items naming one image encodes it
 * once, and a process running many Batches never holds more than the bound. A File larger than the whole
 * bound is read for each request that needs it, rather than evicting everything else (the cache only helps
 * Files that fit). Concurrent requests for a File not yet cached share one read.
 *
 * The metadata is looked up for every request (one indexed read), not cached: a File deleted or expired
 * while its Batch runs fails the Items that still name it, as the issue asks.
 */
import type { Readable } from "node:stream";
import type { Clock } from "../core/clock.ts";
import { mediaTypeOf, MediaFileError, type MediaFile, type MediaFiles } from "../core/media.ts";
import type { FileRecord } from "../core/types.ts";
import { BlobNotFoundError, type BlobStore } from "./blob-store.ts";
import type { Store } from "./store.ts";

export interface MediaFileSettings {
  /** Largest File sent inline (`base64`); an upload (`open`) has no such bound. */
  maxInlineBytes: number;
  /** Base64 text kept in memory across requests, in bytes (UTF-16 aside: base64 is one byte per character). */
  cacheBytes: number;
}

/** What the cache did; read by tests and the bench (a BlobStore read counter, not a timing). */
export interface MediaFileStats {
  blobReads: number;
  cacheHits: number;
  cachedBytes: number;
}

export class StoredMediaFiles implements MediaFiles {
  private readonly cache = new Map<string, string>();
  private readonly loading = new Map<string, Promise<string>>();
  private cachedBytes = 0;
  private blobReads = 0;
  private cacheHits = 0;

  constructor(
    private readonly deps: { store: Pick<Store, "getFile">; blobs: Pick<BlobStore, "read">; clock: Clock; settings: MediaFileSettings },
  ) {}

  async find(fileId: string, owner: string | null): Promise<MediaFile> {
    const record = await this.deps.store.getFile(fileId);
    return checkedFile(record, fileId, owner, this.deps.clock.now());
  }

  async base64(file: MediaFile): Promise<string> {
    const limit = this.deps.settings.maxInlineBytes;
    if (file.bytes > limit) {
      throw new MediaFileError("too_large", `File ${file.id} is ${file.bytes} bytes; this model's engine takes media inline, up to ${limit} bytes (config media.maxInlineBytes).`);
    }
    const key = `${file.id}:${file.sha256}`;
    const cached = this.cache.get(key);
    if (cached !== undefined) {
      this.cacheHits += 1;
      // Re-inserting moves it to the end: Map order is the LRU order.
      this.cache.delete(key);
      this.cache.set(key, cached);
      return cached;
    }
    let pending = this.loading.get(key);
    if (pending === undefined) {
      pending = this.load(file).finally(() => this.loading.delete(key));
      this.loading.set(key, pending);
    } else {
      this.cacheHits += 1;
    }
    const text = await pending;
    this.remember(key, text);
    return text;
  }

  async open(file: MediaFile): Promise<Readable> {
    this.blobReads += 1;
    return this.read(file);
  }

  stats(): MediaFileStats {
    return { blobReads: this.blobReads, cacheHits: this.cacheHits, cachedBytes: this.cachedBytes };
  }

  private async load(file: MediaFile): Promise<string> {
    this.blobReads += 1;
    const chunks: Buffer[] = [];
    for await (const chunk of await this.read(file)) chunks.push(chunk as Buffer);
    const bytes = Buffer.concat(chunks);
    if (bytes.length !== file.bytes) {
      throw new MediaFileError("unreadable", `File ${file.id} holds ${bytes.length} bytes where ${file.bytes} were stored; upload it again.`);
    }
    return bytes.toString("base64");
  }

  private async read(file: MediaFile): Promise<Readable> {
    try {
      return await this.deps.blobs.read(file.id);
    } catch (error) {
      if (error instanceof BlobNotFoundError) throw new MediaFileError("not_found", `The contents of File ${file.id} are no longer stored (it was deleted).`);
      throw error;
    }
  }

  private remember(key: string, text: string): void {
    const limit = this.deps.settings.cacheBytes;
    if (this.cache.has(key) || text.length > limit) return;
    this.cache.set(key, text);
    this.cachedBytes += text.length;
    for (const [oldest, value] of this.cache) {
      if (this.cachedBytes <= limit) break;
      this.cache.delete(oldest);
      this.cachedBytes -= value.length;
    }
  }
}

/**
 * The one place a File record is judged sendable for a request (every reference, at validation and at
 * dispatch, comes through `find`). Another tenant's File is answered exactly as a missing one, so ids cannot
 * be probed (decision 0021); a null `owner` (no tenant known for the request) skips that check.
 */
export function checkedFile(record: FileRecord | null, fileId: string, owner: string | null, nowMs: number): MediaFile {
  const visible = record !== null && record.source === "uploaded" && (owner === null || record.tenant === owner);
  if (!visible || record === null) throw new MediaFileError("not_found", `File ${fileId} does not exist (it may have been deleted).`);
  if (record.expiresAtMs !== null && record.expiresAtMs <= nowMs) {
    throw new MediaFileError("expired", `File ${fileId} expired at ${new Date(record.expiresAtMs).toISOString()}; upload it again.`);
  }
  const mimeType = mediaTypeOf(record.mimeType, record.filename);
  if (mimeType === null) {
    throw new MediaFileError("unknown_type", `File ${fileId} was uploaded without a MIME type and its name (${JSON.stringify(record.filename)}) does not tell one; upload it with its type (e.g. image/png).`);
  }
  return { id: record.id, mimeType, bytes: record.bytes, sha256: record.sha256, filename: record.filename };
}
