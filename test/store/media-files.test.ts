/**
 * StoredMediaFiles over a real SQLite Store and the local BlobStore: which Files a reference may name, the
 * bytes cache (one read shared by concurrent requests, bounded by bytes, least recently used out) and
 * the MIME type a File is sent with.
 */
import { randomBytes } from "node:crypto";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { ManualClock } from "../../src/core/clock.ts";
import { MediaFileError } from "../../src/core/media.ts";
import type { FileRecord } from "../../src/core/types.ts";
import { LocalBlobStore } from "../../src/store/blob/local-blob-store.ts";
import { StoredMediaFiles } from "../../src/store/media-files.ts";
import { openSqliteStore } from "../../src/store/sqlite/index.ts";
import type { Store } from "../../src/store/store.ts";
import { testWorkDir, testWorkPath } from "../helpers/test-dirs.ts";

let store: Store;
let blobs: LocalBlobStore;
const clock = new ManualClock();

beforeEach(async (context) => {
  store = await openSqliteStore(testWorkPath("stores", context.task.name, ".sqlite"));
  await store.migrate();
  blobs = new LocalBlobStore(testWorkDir("media-blobs", context.task.name));
});

afterEach(async () => {
  await blobs.close();
  await store.close();
});

async function upload(id: string, bytes: Buffer, fields: Partial<FileRecord> = {}): Promise<FileRecord> {
  const info = await blobs.put(id, (async function* () {
    yield bytes;
  })());
  return store.createFile({
    id, purpose: "vision", filename: `${id}.png`, displayName: null, mimeType: "image/png", bytes: info.bytes, sha256: info.sha256,
    source: "uploaded", createdAtMs: clock.now(), expiresAtMs: null, ...fields,
  });
}

function media(settings: { cacheBytes?: number; maxInlineBytes?: number } = {}): StoredMediaFiles {
  return new StoredMediaFiles({ store, blobs, clock, settings: { cacheBytes: settings.cacheBytes ?? 1 << 20, maxInlineBytes: settings.maxInlineBytes ?? 1 << 20 } });
}

async function problemOf(promise: Promise<unknown>): Promise<string> {
  const error = await promise.then(() => null, (caught: unknown) => caught);
  if (!(error instanceof MediaFileError)) throw new Error(`expected a MediaFileError, got ${String(error)}`);
  return error.problem;
}

describe("StoredMediaFiles", () => {
  it("reads a File once for many concurrent requests and serves later ones from the cache", async () => {
    const bytes = randomBytes(64 * 1024);
    await upload("file-a", bytes);
    const files = media();
    const file = await files.find("file-a", null);
    const texts = await Promise.all(Array.from({ length: 20 }, () => files.base64(file)));
    await files.base64(file);
    expect(new Set(texts)).toEqual(new Set([bytes.toString("base64")]));
    expect(files.stats()).toMatchObject({ blobReads: 1, cacheHits: 20 });
  });

  it("keeps the cache within its byte bound, evicting the least recently used File", async () => {
    const files = media({ cacheBytes: 3 * 4096 });
    for (const id of ["file-a", "file-b", "file-c"]) await upload(id, randomBytes(3000)); // 4,000 base64 characters each
    const [a, b, c] = await Promise.all(["file-a", "file-b", "file-c"].map((id) => files.find(id, null)));
    await files.base64(a!);
    await files.base64(b!);
    await files.base64(a!); // a is now the most recently used
    await files.base64(c!); // 12,000 of 12,288: all three fit
    expect(files.stats()).toMatchObject({ blobReads: 3, cachedBytes: 12_000 });
    await upload("file-d", randomBytes(3000));
    await files.base64(await files.find("file-d", null)); // evicts b, the least recently used
    expect(files.stats().cachedBytes).toBeLessThanOrEqual(3 * 4096);
    await files.base64(a!);
    expect(files.stats().blobReads).toBe(4);
    await files.base64(b!);
    expect(files.stats().blobReads).toBe(5);
  });

  it("reads a File larger than the whole cache for each request instead of evicting everything", async () => {
    const files = media({ cacheBytes: 1000 });
    await upload("file-big", randomBytes(3000));
    const big = await files.find("file-big", null);
    await files.base64(big);
    await files.base64(big);
    expect(files.stats()).toMatchObject({ blobReads: 2, cachedBytes: 0 });
  });

  it("refuses missing, generated, expired, untyped and (inline) oversized Files with their reason", async () => {
    const files = media({ maxInlineBytes: 100 });
    await upload("file-result", randomBytes(10), { source: "generated" });
    await upload("file-old", randomBytes(10), { expiresAtMs: clock.now() + 1000 });
    await upload("file-untyped", randomBytes(10), { mimeType: "application/octet-stream", filename: "blob" });
    await upload("file-large", randomBytes(101));
    expect(await problemOf(files.find("file-none", null))).toBe("not_found");
    expect(await problemOf(files.find("file-result", null))).toBe("not_found");
    clock.advance(1000);
    expect(await problemOf(files.find("file-old", null))).toBe("expired");
    expect(await problemOf(files.find("file-untyped", null))).toBe("unknown_type");
    expect(await problemOf(files.base64(await files.find("file-large", null)))).toBe("too_large");
  });

  it("answers another tenant's File exactly as a missing one", async () => {
    await upload("file-theirs", randomBytes(10), { tenant: "acme" });
    const files = media();
    expect((await files.find("file-theirs", "acme")).id).toBe("file-theirs");
    expect(await problemOf(files.find("file-theirs", "globex"))).toBe("not_found");
  });

  it("sends a File with its upload's MIME type, or its name's when the upload gave none", async () => {
    await upload("file-typed", randomBytes(10), { mimeType: "image/webp", filename: "x.png" });
    await upload("file-named", randomBytes(10), { mimeType: "application/octet-stream", filename: "talk.MP3" });
    const files = media();
    expect((await files.find("file-typed", null)).mimeType).toBe("image/webp");
    expect((await files.find("file-named", null)).mimeType).toBe("audio/mpeg");
  });

  it("fails a File whose contents were deleted after its record was read", async () => {
    await upload("file-gone", randomBytes(10));
    const files = media();
    const file = await files.find("file-gone", null);
    await blobs.delete("file-gone");
    expect(await problemOf(files.base64(file))).toBe("not_found");
  });
});
