/**
 * The BlobStore contract: contents of Files (uploads and result files), addressed by File id.
 *
 * Implementations: src/store/blob/local-blob-store.ts (files in the data dir, the SQLite default) and a
 * PostgreSQL one (chunked rows, so every process sees every file). An S3-compatible store can be added
 * behind the same contract without touching callers.
 *
 * Contents are always streamed: nothing here takes or returns a whole file in memory.
 * A blob becomes visible only when its writer commits; an aborted or interrupted write never leaves a
 * readable (partial) blob behind.
 */
import type { Readable } from "node:stream";

export interface BlobInfo {
  bytes: number;
  /** Lower-case hex SHA-256 of the contents. */
  sha256: string;
}

/** A blob being written. Chunks are appended in order; nothing is visible until commit(). */
export interface BlobWriter {
  /**
   * Appends `chunk`. The caller may reuse its buffer once this resolves: a writer that keeps bytes past
   * that (PostgreSQL's chunking, the local store's small blobs) keeps a copy.
   */
  write(chunk: Uint8Array): Promise<void>;
  /** Bytes appended so far. */
  readonly bytesWritten: number;
  /** Makes the blob readable under its key (replacing any previous blob with that key). */
  commit(): Promise<BlobInfo>;
  /** Discards everything written; safe to call after a failure or twice. */
  abort(): Promise<void>;
}

export interface BlobStore {
  /** Starts writing the blob `key`. */
  createWriter(key: string): Promise<BlobWriter>;
  /**
   * Streams `source` into blob `key`. Throws BlobTooLargeError (and keeps nothing) as soon as more than
   * `maxBytes` arrive, without reading the rest into memory.
   */
  put(key: string, source: AsyncIterable<Uint8Array>, options?: { maxBytes?: number }): Promise<BlobInfo>;
  /** Streams the blob (optionally a byte range, `end` exclusive). Throws BlobNotFoundError if missing. */
  read(key: string, range?: { start: number; end?: number }): Promise<Readable>;
  size(key: string): Promise<number | null>;
  /** Removes the blob; false if it did not exist. */
  delete(key: string): Promise<boolean>;
  close(): Promise<void>;
}

export class BlobTooLargeError extends Error {
  constructor(readonly maxBytes: number) {
    super(`The file is larger than the limit of ${maxBytes} bytes.`);
    this.name = "BlobTooLargeError";
  }
}

export class BlobNotFoundError extends Error {
  constructor(readonly key: string) {
    super(`No contents stored for ${key}.`);
    this.name = "BlobNotFoundError";
  }
}

/**
 * `BlobStore.put` in terms of `createWriter`, shared by the implementations: streams `source` into a
 * writer, stops reading as soon as `maxBytes` would be passed, and keeps nothing unless every byte arrived.
 */
export async function putThroughWriter(store: Pick<BlobStore, "createWriter">, key: string, source: AsyncIterable<Uint8Array>, maxBytes?: number): Promise<BlobInfo> {
  const writer = await store.createWriter(key);
  try {
    for await (const chunk of source) {
      if (maxBytes !== undefined && writer.bytesWritten + chunk.byteLength > maxBytes) {
        // Leaving the loop ends `source` (its return() runs), so the rest is never read.
        throw new BlobTooLargeError(maxBytes);
      }
      await writer.write(chunk);
    }
    return await writer.commit();
  } catch (error) {
    await writer.abort();
    throw error;
  }
}
