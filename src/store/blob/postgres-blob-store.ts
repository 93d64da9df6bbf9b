/**
 * BlobStore in PostgreSQL, for the scale-out setup: every spool process sees every File, with no shared
 * filesystem. Tables come from the PostgreSQL Store's migrations (001-initial.sql): run Store.migrate()
 * first. Nothing outside this file knows how blobs are laid out; an S3-compatible store can replace it
 * behind the BlobStore contract without touching callers.
 *
 * Layout and guarantees:
 * - Contents are rows of `blob_chunks (upload_id, seq, first_byte, data BYTEA)`, ~1 MB each. A writer
 *   buffers at most one chunk, then INSERTs it (each INSERT commits on its own: no connection or
 *   transaction is held while the client is still uploading).
 * - Every write is an upload with its own id, invisible until commit(): a `blobs (key -> upload_id)` row
 *   is what makes a key readable. commit() is one transaction that points the key at the new upload, so a
 *   reader sees the old contents or the new, never a half-written or mixed blob. An aborted write deletes
 *   its chunks; a process killed mid-write leaves an upload that no key points at (never readable).
 * - read() looks the key up once, pinning that upload, then fetches one chunk per query: memory stays at
 *   about one chunk whatever the blob's size, and a slow client holds no connection between chunks.
 *   Ranges start at the chunk holding `start` (found by `first_byte`).
 * - A replaced or deleted blob's chunks are retired, not deleted at once, so a reader that already started
 *   (a download in progress while finalization rewrites a result file) finishes on the version it opened,
 *   as it would with the local store's open file. Retired uploads go after RETIRED_KEEP_MS, abandoned ones
 *   after ABANDONED_UPLOAD_MS, swept by every commit and delete (no extra job to schedule); a reader still
 *   going after that fails with an error rather than continue on other contents.
 * - SHA-256 and size are computed while writing; put() stops reading its source as soon as `maxBytes` is
 *   passed and keeps nothing.
 * - Commits and deletes of one key are serialized by a transaction-scoped advisory lock on the key, so two
 *   writers racing on a key leave exactly one blob and no orphaned chunks.
 */
import { createHash, randomUUID, type Hash } from "node:crypto";
import { Readable } from "node:stream";
import { AppError } from "../../core/errors.ts";
import { BlobNotFoundError, putThroughWriter, type BlobInfo, type BlobStore, type BlobWriter } from "../blob-store.ts";
import { PostgresDatabase, type PostgresDatabaseOptions, type Queryable } from "../postgres/database.ts";

const DEFAULT_CHUNK_BYTES = 1024 * 1024;
/** Same keys as the local store accepts, so switching stores never changes which File ids are valid. */
const KEY_PATTERN = /^[A-Za-z0-9][A-Za-z0-9_-]{0,199}$/;
/** Uploads younger than this may still be in progress in another process. */
const ABANDONED_UPLOAD_MS = 24 * 3600 * 1000;
/** How long a replaced or deleted blob stays readable for readers that opened it before. */
const RETIRED_KEEP_MS = 3600 * 1000;

export interface PostgresBlobStoreOptions extends PostgresDatabaseOptions {
  /** Size of stored chunks (and of the write buffer). Tests lower it to exercise chunk boundaries. */
  chunkBytes?: number;
}

export class PostgresBlobStore implements BlobStore {
  private readonly db: PostgresDatabase;
  private readonly chunkBytes: number;
  private readonly writers = new Set<PostgresBlobWriter>();

  constructor(url: string, options: PostgresBlobStoreOptions = {}) {
    this.db = new PostgresDatabase(url, options);
    this.chunkBytes = options.chunkBytes ?? DEFAULT_CHUNK_BYTES;
  }

  async createWriter(key: string): Promise<BlobWriter> {
    checkKey(key);
    const writer = new PostgresBlobWriter(
      this.db,
      key,
      this.chunkBytes,
      () => this.writers.delete(writer),
      () => this.removeLeftoverUploads(Date.now()),
    );
    this.writers.add(writer);
    return writer;
  }

  put(key: string, source: AsyncIterable<Uint8Array>, options: { maxBytes?: number } = {}): Promise<BlobInfo> {
    return putThroughWriter(this, key, source, options.maxBytes);
  }

  async read(key: string, range?: { start: number; end?: number }): Promise<Readable> {
    checkKey(key);
    const { rows } = await this.db.query<{ upload_id: string; bytes: number }>("SELECT upload_id, bytes FROM blobs WHERE key = $1", [key]);
    const blob = rows[0];
    if (!blob) throw new BlobNotFoundError(key);
    const start = Math.max(0, range?.start ?? 0);
    const end = Math.min(blob.bytes, range?.end ?? blob.bytes);
    if (end <= start) return Readable.from([]);
    return Readable.from(this.chunks(key, blob.upload_id, start, end), { objectMode: false });
  }

  /**
   * Yields the bytes [start, end) of one upload, one stored chunk per query, asking for the next chunk
   * before handing out the current one: the query (15 ms for a 1 MB chunk on a loaded 2-core machine) then
   * runs while the reader consumes, instead of after it. A reader holds at most two chunks.
   */
  private async *chunks(key: string, uploadId: string, start: number, end: number): AsyncGenerator<Buffer> {
    const first = await this.db.query<{ seq: number; first_byte: number }>(
      "SELECT seq, first_byte FROM blob_chunks WHERE upload_id = $1 AND first_byte <= $2 ORDER BY seq DESC LIMIT 1",
      [uploadId, start],
    );
    let seq = first.rows[0]?.seq;
    let offset = first.rows[0]?.first_byte ?? 0;
    let next = seq === undefined ? undefined : this.chunk(uploadId, seq);
    while (next !== undefined && seq !== undefined && offset < end) {
      const data = await next;
      if (!data) break;
      seq += 1;
      // Ahead of time only while more is wanted; the handler keeps a failed read-ahead that nobody awaits
      // (the reader stopped) from becoming an unhandled rejection. Awaited, it still throws.
      next = offset + data.byteLength < end ? this.chunk(uploadId, seq) : undefined;
      next?.catch(() => undefined);
      const from = Math.max(0, start - offset);
      const to = Math.min(data.byteLength, end - offset);
      if (to > from) yield data.subarray(from, to);
      offset += data.byteLength;
    }
    if (offset < end) {
      throw new Error(`The contents of ${key} were replaced or deleted while being read; read it again.`);
    }
  }

  /** One stored chunk, or undefined past the last. */
  private async chunk(uploadId: string, seq: number): Promise<Buffer | undefined> {
    // Base64 text, decoded here: pg 8 reads every result row as text (binary results would corrupt
    // bytes), and base64 is 1.33x the chunk on the wire where bytea's hex output is 2x. The connection's
    // receive buffer grows to fit the largest message and stays, so smaller messages mean less memory.
    const { rows } = await this.db.query<{ data: string }>("SELECT encode(data, 'base64') AS data FROM blob_chunks WHERE upload_id = $1 AND seq = $2", [uploadId, seq]);
    return rows[0] ? Buffer.from(rows[0].data, "base64") : undefined;
  }

  async size(key: string): Promise<number | null> {
    checkKey(key);
    const { rows } = await this.db.query<{ bytes: number }>("SELECT bytes FROM blobs WHERE key = $1", [key]);
    return rows[0]?.bytes ?? null;
  }

  async delete(key: string): Promise<boolean> {
    checkKey(key);
    const deleted = await this.db.transaction(async (client) => {
      await lockKey(client, key);
      const { rows } = await client.query<{ upload_id: string }>("DELETE FROM blobs WHERE key = $1 RETURNING upload_id", [key]);
      const removed = rows[0];
      if (!removed) return false;
      await retireUpload(client, key, removed.upload_id);
      return true;
    });
    if (deleted) await this.removeLeftoverUploads(Date.now());
    return deleted;
  }

  /**
   * Deletes the chunks nothing needs any more: retired uploads older than RETIRED_KEEP_MS and uploads
   * started more than ABANDONED_UPLOAD_MS ago that never committed (their process died). `nowMs` is the
   * wall clock: this is bookkeeping, not domain time. Returns how many uploads were removed.
   */
  async removeLeftoverUploads(nowMs: number): Promise<number> {
    const { rows } = await this.db.query<{ upload_id: string }>(
      `WITH leftover AS (
         DELETE FROM blob_uploads
         WHERE (retired_at_ms IS NOT NULL AND retired_at_ms <= $1) OR (retired_at_ms IS NULL AND started_at_ms <= $2)
         RETURNING upload_id),
       chunks AS (DELETE FROM blob_chunks WHERE upload_id IN (SELECT upload_id FROM leftover))
       SELECT upload_id FROM leftover`,
      [nowMs - RETIRED_KEEP_MS, nowMs - ABANDONED_UPLOAD_MS],
    );
    return rows.length;
  }

  /** Aborts writers still open (their chunks are removed), then closes the pool. */
  async close(): Promise<void> {
    await Promise.all([...this.writers].map((writer) => writer.abort()));
    await this.db.close();
  }
}

class PostgresBlobWriter implements BlobWriter {
  private readonly uploadId = randomUUID();
  private readonly hash: Hash = createHash("sha256");
  private written = 0;
  private stored = 0;
  private seq = 0;
  private buffered: Buffer[] = [];
  private bufferedBytes = 0;
  private registered = false;
  private state: "open" | "committed" | "aborted" = "open";
  /** The first failed write: a blob with a hole in it must never be committed. */
  private failure: unknown = null;
  /** Writes run one after another even if a caller does not await each one. */
  private queue: Promise<void> = Promise.resolve();

  constructor(
    private readonly db: PostgresDatabase,
    private readonly key: string,
    private readonly chunkBytes: number,
    private readonly onDone: () => void,
    private readonly onCommitted: () => Promise<unknown>,
  ) {}

  get bytesWritten(): number {
    return this.written;
  }

  write(chunk: Uint8Array): Promise<void> {
    const next = this.queue.then(async () => {
      this.assertOpen();
      // Copy: the caller may reuse its buffer once write() resolves, and we keep bytes until a chunk fills.
      this.buffered.push(Buffer.from(chunk));
      this.bufferedBytes += chunk.byteLength;
      this.hash.update(chunk);
      this.written += chunk.byteLength;
      if (this.bufferedBytes >= this.chunkBytes) await this.storeFullChunks();
    });
    this.queue = next.catch((error: unknown) => {
      this.failure ??= error;
    });
    return next;
  }

  async commit(): Promise<BlobInfo> {
    this.assertOpen();
    await this.queue;
    this.assertOpen();
    if (this.failure !== null) throw this.failure;
    this.state = "committed";
    const info = { bytes: this.written, sha256: this.hash.digest("hex") };
    try {
      if (this.bufferedBytes > 0) await this.storeChunk(Buffer.concat(this.buffered, this.bufferedBytes));
      await this.db.transaction(async (client) => {
        await lockKey(client, this.key);
        const previous = await client.query<{ upload_id: string }>("SELECT upload_id FROM blobs WHERE key = $1", [this.key]);
        await client.query(
          `INSERT INTO blobs (key, upload_id, bytes, sha256) VALUES ($1, $2, $3, $4)
           ON CONFLICT (key) DO UPDATE SET upload_id = EXCLUDED.upload_id, bytes = EXCLUDED.bytes, sha256 = EXCLUDED.sha256`,
          [this.key, this.uploadId, info.bytes, info.sha256],
        );
        await client.query("DELETE FROM blob_uploads WHERE upload_id = $1", [this.uploadId]);
        const replaced = previous.rows[0]?.upload_id;
        if (replaced !== undefined) await retireUpload(client, this.key, replaced);
      });
    } catch (error) {
      await this.discard().catch(() => undefined);
      throw error;
    } finally {
      this.onDone();
    }
    // Housekeeping after the fact: a failure here must not undo a commit that happened; the next one retries.
    await this.onCommitted().catch(() => undefined);
    return info;
  }

  async abort(): Promise<void> {
    if (this.state !== "open") return;
    this.state = "aborted";
    this.onDone();
    await this.queue;
    await this.discard();
  }

  /** Stores every whole chunk the buffer holds; keeps the remainder (less than one chunk) buffered. */
  private async storeFullChunks(): Promise<void> {
    const joined = Buffer.concat(this.buffered, this.bufferedBytes);
    this.buffered = [];
    this.bufferedBytes = 0;
    let offset = 0;
    for (; joined.byteLength - offset >= this.chunkBytes; offset += this.chunkBytes) {
      await this.storeChunk(joined.subarray(offset, offset + this.chunkBytes));
    }
    if (offset < joined.byteLength) {
      // A copy, so the (possibly large) joined buffer is not kept alive by its tail.
      this.buffered = [Buffer.from(joined.subarray(offset))];
      this.bufferedBytes = joined.byteLength - offset;
    }
  }

  private async storeChunk(data: Buffer): Promise<void> {
    if (!this.registered) {
      // Registered before its first chunk, so removeLeftoverUploads finds every chunk a dead writer left.
      await this.db.query("INSERT INTO blob_uploads (upload_id, key, started_at_ms) VALUES ($1, $2, $3)", [this.uploadId, this.key, Date.now()]);
      this.registered = true;
    }
    await this.db.query("INSERT INTO blob_chunks (upload_id, seq, first_byte, data) VALUES ($1, $2, $3, $4)", [this.uploadId, this.seq, this.stored, data]);
    this.seq += 1;
    this.stored += data.byteLength;
  }

  private async discard(): Promise<void> {
    this.buffered = [];
    this.bufferedBytes = 0;
    if (!this.registered) return;
    // Guarded: if a commit reached the server but its answer was lost, the upload is live; keep it.
    await this.db.transaction(async (client) => {
      const { rowCount } = await client.query("DELETE FROM blob_uploads WHERE upload_id = $1", [this.uploadId]);
      if ((rowCount ?? 0) > 0) await client.query("DELETE FROM blob_chunks WHERE upload_id = $1", [this.uploadId]);
    });
  }

  private assertOpen(): void {
    if (this.state !== "open") throw new Error(`This blob writer was already ${this.state}.`);
  }
}

function checkKey(key: string): void {
  if (!KEY_PATTERN.test(key)) throw new AppError("invalid_request", `Invalid file id: ${JSON.stringify(key).slice(0, 80)}.`);
}

/** Chunks of an upload no key points at any more: kept RETIRED_KEEP_MS for readers already under way. */
async function retireUpload(client: Queryable, key: string, uploadId: string): Promise<void> {
  const nowMs = Date.now();
  await client.query("INSERT INTO blob_uploads (upload_id, key, started_at_ms, retired_at_ms) VALUES ($1, $2, $3, $3)", [uploadId, key, nowMs]);
}

async function lockKey(client: Queryable, key: string): Promise<void> {
  await client.query("SELECT pg_advisory_xact_lock(hashtext('spool.blob:' || current_schema() || ':' || $1))", [key]);
}
