/**
 * BlobStore on the local filesystem, for the embedded (SQLite) setup: `<dataDir>/files/<key>`.
 *
 * A writer appends to `<dataDir>/files/.tmp/<key>.<random>.part` and commit() renames it into place, so a
 * blob appears whole or not at all, and a reader that opened the previous version keeps reading it. The
 * temporary file lives on the same filesystem as the target, which is what makes rename atomic.
 * Parts left by a killed process are removed when they are a day old (another process may be writing a
 * younger one).
 *
 * A full filesystem (ENOSPC, or EDQUOT past a quota) fails the write with AppError("insufficient_storage"),
 * logged once with the path; the part is discarded, so nothing half-written is ever committed.
 */
import { createHash, randomBytes, type Hash } from "node:crypto";
import { closeSync, createReadStream, fstatSync, fsync, open as openCallback, openSync, readSync, rename as renameCallback, writeSync } from "node:fs";
import { mkdir, open, readdir, rename, stat, unlink, type FileHandle } from "node:fs/promises";
import path from "node:path";
import { Readable } from "node:stream";
import { promisify } from "node:util";
import { AppError } from "../../core/errors.ts";
import { BlobNotFoundError, putThroughWriter, type BlobInfo, type BlobStore, type BlobWriter } from "../blob-store.ts";
import { insufficientStorage } from "../shared/store-errors.ts";
import { silentStoreLogger, type StoreLogger } from "../shared/store-logger.ts";

const STALE_PART_MS = 24 * 3600 * 1000;
/** Blobs (or ranges) up to this size are read at once, synchronously (see read). */
const READ_AT_ONCE_BYTES = 256 * 1024;
/** Blobs up to this size are held in memory and written at commit in one go (see LocalBlobWriter). */
const SMALL_BLOB_BYTES = 256 * 1024;
const fsyncAsync = promisify(fsync);
const openAsync = promisify(openCallback);
const renameAsync = promisify(renameCallback);
/** File ids (`file-abc123`, `file-abc123-output`): no separators, no dot-names, nothing that climbs out. */
const KEY_PATTERN = /^[A-Za-z0-9][A-Za-z0-9_-]{0,199}$/;

export class LocalBlobStore implements BlobStore {
  readonly root: string;
  private readonly tmpDir: string;
  private ready: Promise<void> | null = null;
  private readonly writers = new Set<LocalBlobWriter>();
  private readonly logger: StoreLogger;

  constructor(dataDir: string, options: { logger?: StoreLogger } = {}) {
    this.root = path.join(dataDir, "files");
    this.tmpDir = path.join(this.root, ".tmp");
    this.logger = options.logger ?? silentStoreLogger;
  }

  async createWriter(key: string): Promise<BlobWriter> {
    const target = this.pathOf(key);
    const partPath = path.join(this.tmpDir, `${key}.${randomBytes(6).toString("hex")}.part`);
    const storageFailure = (error: unknown): unknown => this.storageFailure(error, partPath);
    try {
      await this.prepare();
    } catch (error) {
      throw storageFailure(error);
    }
    const writer = new LocalBlobWriter(partPath, target, storageFailure, () => this.writers.delete(writer));
    this.writers.add(writer);
    return writer;
  }

  put(key: string, source: AsyncIterable<Uint8Array>, options: { maxBytes?: number } = {}): Promise<BlobInfo> {
    return putThroughWriter(this, key, source, options.maxBytes);
  }

  /**
   * Opens synchronously, then reads a small blob (or range) at once, also synchronously; a larger one is
   * streamed. Through the thread pool a 20 KB input took four hops (open, read, read to the end, close),
   * 350-540 µs of CPU on this project's 2-core machine against 16-35 µs for a blocking read of the same
   * bytes (scratch measurement, session 12): the hops, not the read, were the cost, once per small Batch's
   * validation (bench many-batches). The blocking part is an open and at most READ_AT_ONCE_BYTES from a
   * local disk, usually the page cache (a file just uploaded).
   */
  async read(key: string, range?: { start: number; end?: number }): Promise<Readable> {
    let fd: number;
    try {
      // Opening first pins this version: a commit or delete after this point does not disturb the reader.
      fd = openSync(this.pathOf(key), "r");
    } catch (error) {
      if (isMissing(error)) throw new BlobNotFoundError(key);
      throw error;
    }
    const start = range?.start ?? 0;
    const end = range?.end;
    let stop: number;
    try {
      stop = Math.min(end ?? Number.POSITIVE_INFINITY, fstatSync(fd).size);
      if (stop - start <= READ_AT_ONCE_BYTES) {
        const bytes = stop <= start ? null : readAt(fd, start, stop - start);
        closeSync(fd);
        return Readable.from(bytes === null ? [] : [bytes], { objectMode: false });
      }
    } catch (error) {
      closeSync(fd);
      throw error;
    }
    // Larger: streamed from the same descriptor (the stream closes it).
    return createReadStream("", { fd, start, end: stop - 1, autoClose: true });
  }

  async size(key: string): Promise<number | null> {
    try {
      return (await stat(this.pathOf(key))).size;
    } catch (error) {
      if (isMissing(error)) return null;
      throw error;
    }
  }

  async delete(key: string): Promise<boolean> {
    try {
      await unlink(this.pathOf(key));
      return true;
    } catch (error) {
      if (isMissing(error)) return false;
      throw error;
    }
  }

  /** Aborts writers still open (their parts are removed); committed blobs are untouched. */
  async close(): Promise<void> {
    await Promise.all([...this.writers].map((writer) => writer.abort()));
  }

  /** A full filesystem as AppError("insufficient_storage"), logged here, once per failed write; other errors unchanged. */
  private storageFailure(error: unknown, file: string): unknown {
    const code = (error as NodeJS.ErrnoException | null)?.code;
    if (code !== "ENOSPC" && code !== "EDQUOT") return error;
    this.logger.error({ path: file, code }, "the disk holding the file store is full: the file was not saved");
    return insufficientStorage(error);
  }

  private pathOf(key: string): string {
    if (!KEY_PATTERN.test(key)) throw new AppError("invalid_request", `Invalid file id: ${JSON.stringify(key).slice(0, 80)}.`);
    return path.join(this.root, key);
  }

  private prepare(): Promise<void> {
    if (this.ready === null) {
      const ready = (async () => {
        await mkdir(this.tmpDir, { recursive: true });
        await removeStaleParts(this.tmpDir, Date.now() - STALE_PART_MS);
      })();
      // A failure (the disk was full) is not remembered: the next writer tries again.
      ready.catch(() => {
        if (this.ready === ready) this.ready = null;
      });
      this.ready = ready;
    }
    return this.ready;
  }
}

/**
 * Writes a blob to its part file and renames it into place on commit.
 *
 * Small blobs (up to SMALL_BLOB_BYTES: the output file of a small Batch, most uploads) are held in memory
 * and written at commit with one write call, not one pool hop per chunk: through a FileHandle, each open,
 * write, sync, close and rename was a hop of its own, and the hops, not the bytes, cost: a 40 KB blob took
 * 550-590 µs of CPU that way against 390-455 µs with blocking calls, of which the sha256 and the copy are
 * most of the difference to the bare calls' 240-280 (scratch loop, 500 blobs, alternated); twice per Batch
 * (its upload and its output) with many small Batches (issue 11). What may wait on the filesystem (open,
 * fsync, rename) then went back to the pool (writeHeld says why); the write to the page cache and the close
 * stay blocking. A blob that outgrows the limit opens its part file and streams through
 * the pool as before, so memory stays bounded whatever the blob's size.
 */
class LocalBlobWriter implements BlobWriter {
  private readonly hash: Hash = createHash("sha256");
  private written = 0;
  /** The part file, once the blob outgrew SMALL_BLOB_BYTES; until then the blob is `held`. */
  private handle: FileHandle | null = null;
  private held: Buffer[] = [];
  private state: "open" | "committed" | "aborted" = "open";
  /** The first failed write: a blob with a hole in it must never be committed. */
  private failure: unknown = null;
  /** Writes run one after another even if a caller does not await each one. */
  private queue: Promise<void> = Promise.resolve();

  constructor(
    private readonly partPath: string,
    private readonly targetPath: string,
    private readonly storageFailure: (error: unknown) => unknown,
    private readonly onDone: () => void,
  ) {}

  get bytesWritten(): number {
    return this.written;
  }

  write(chunk: Uint8Array): Promise<void> {
    const next = this.queue.then(async () => {
      this.assertOpen();
      if (this.handle === null && this.written + chunk.byteLength <= SMALL_BLOB_BYTES) {
        // A copy: the caller may reuse its buffer once this resolves.
        this.held.push(Buffer.from(chunk));
      } else {
        try {
          if (this.handle === null) {
            this.handle = await open(this.partPath, "wx");
            for (const part of this.held.splice(0)) await writeAllAsync(this.handle, part);
          }
          await writeAllAsync(this.handle, chunk);
        } catch (error) {
          throw this.storageFailure(error);
        }
      }
      this.hash.update(chunk);
      this.written += chunk.byteLength;
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
    try {
      if (this.handle === null) {
        await this.writeHeld();
      } else {
        await this.handle.sync();
        await this.handle.close();
        await rename(this.partPath, this.targetPath);
      }
    } catch (error) {
      await this.handle?.close().catch(() => undefined);
      await unlink(this.partPath).catch(() => undefined);
      throw this.storageFailure(error);
    } finally {
      this.onDone();
    }
    return { bytes: this.written, sha256: this.hash.digest("hex") };
  }

  async abort(): Promise<void> {
    if (this.state !== "open") return;
    this.state = "aborted";
    this.onDone();
    await this.queue;
    this.held = [];
    // A blob still held in memory never touched the disk.
    if (this.handle === null) return;
    await this.handle.close().catch(() => undefined);
    await unlink(this.partPath).catch((error: unknown) => {
      if (!isMissing(error)) throw error;
    });
  }

  /**
   * The small blob's one trip to disk. The writes (at most SMALL_BLOB_BYTES, to the page cache) and the
   * close block; the open, fsync and rename go through the pool. Creating and renaming a file wait on the
   * filesystem's journal, which the fsyncs of other blobs keep busy: with 20 blobs written at once, the
   * blocking open and rename held the event loop 0.3-0.4 ms a blob (1,000 blobs: 324-406 ms blocked, 3.5-7 ms
   * mean timer lag); through the pool, 0.03 ms (27-32 ms, 0.2-0.5 ms), for two more hops' CPU (issue 11).
   */
  private async writeHeld(): Promise<void> {
    const fd = await openAsync(this.partPath, "wx");
    try {
      for (const part of this.held) writeAll(fd, part);
      this.held = [];
      await fsyncAsync(fd);
    } finally {
      closeSync(fd);
    }
    await renameAsync(this.partPath, this.targetPath);
  }

  private assertOpen(): void {
    if (this.state !== "open") throw new Error(`This blob writer was already ${this.state}.`);
  }
}

async function removeStaleParts(dir: string, olderThanMs: number): Promise<void> {
  for (const name of await readdir(dir)) {
    if (!name.endsWith(".part")) continue;
    const file = path.join(dir, name);
    const info = await stat(file).catch(() => null);
    if (info && info.mtimeMs < olderThanMs) await unlink(file).catch(() => undefined);
  }
}

async function writeAllAsync(handle: FileHandle, chunk: Uint8Array): Promise<void> {
  for (let offset = 0; offset < chunk.byteLength; ) offset += (await handle.write(chunk, offset, chunk.byteLength - offset)).bytesWritten;
}

function writeAll(fd: number, chunk: Uint8Array): void {
  for (let offset = 0; offset < chunk.byteLength; ) offset += writeSync(fd, chunk, offset, chunk.byteLength - offset);
}

/** `length` bytes from `position` (fewer only if the file ended sooner). */
function readAt(fd: number, position: number, length: number): Buffer {
  const bytes = Buffer.allocUnsafe(length);
  let read = 0;
  while (read < length) {
    const count = readSync(fd, bytes, read, length - read, position + read);
    if (count === 0) break;
    read += count;
  }
  return read === length ? bytes : bytes.subarray(0, read);
}

function isMissing(error: unknown): boolean {
  return (error as NodeJS.ErrnoException | null)?.code === "ENOENT";
}
