import { createHash } from "node:crypto";
import { readdirSync } from "node:fs";
import path from "node:path";
import type { Readable } from "node:stream";
import { describe, expect, it } from "vitest";
import { BlobNotFoundError, BlobTooLargeError } from "../../src/store/blob-store.ts";
import { LocalBlobStore } from "../../src/store/blob/local-blob-store.ts";
import { testWorkDir } from "../helpers/test-dirs.ts";

function openBlobs(testName: string): { blobs: LocalBlobStore; dataDir: string } {
  const dataDir = testWorkDir("blobs", testName);
  return { blobs: new LocalBlobStore(dataDir), dataDir };
}

async function readAll(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

async function* chunksOf(data: Buffer, size: number): AsyncGenerator<Uint8Array> {
  for (let offset = 0; offset < data.length; offset += size) yield data.subarray(offset, offset + size);
}

const sha256 = (data: Buffer): string => createHash("sha256").update(data).digest("hex");
/** Files left in the data dir: committed blobs and temporary parts. */
const leftovers = (dataDir: string): string[] => [
  ...readdirSync(path.join(dataDir, "files")).filter((name) => name !== ".tmp"),
  ...readdirSync(path.join(dataDir, "files", ".tmp")).map((name) => `.tmp/${name}`),
];

describe("LocalBlobStore", () => {
  it("round-trips a streamed blob and reports its size and sha256", async () => {
    const { blobs } = openBlobs("blob round trip");
    const data = Buffer.from("x".repeat(200_000) + "tail", "utf8");
    const info = await blobs.put("file-abc123", chunksOf(data, 16_384));
    expect(info).toEqual({ bytes: data.length, sha256: sha256(data) });
    expect(await blobs.size("file-abc123")).toBe(data.length);
    expect((await readAll(await blobs.read("file-abc123"))).equals(data)).toBe(true);
  });

  it("reads a byte range with an exclusive end, an open end and an empty range", async () => {
    const { blobs } = openBlobs("blob ranges");
    await blobs.put("file-range", chunksOf(Buffer.from("0123456789"), 3));
    expect((await readAll(await blobs.read("file-range", { start: 2, end: 5 }))).toString()).toBe("234");
    expect((await readAll(await blobs.read("file-range", { start: 7 }))).toString()).toBe("789");
    expect((await readAll(await blobs.read("file-range", { start: 4, end: 4 }))).toString()).toBe("");
  });

  it("reads whole blobs and ranges the same whether they are read at once (up to 256 KB) or streamed", async () => {
    const { blobs } = openBlobs("blob sizes");
    const data = Buffer.from(Array.from({ length: 700_000 }, (_, i) => (i * 7919) % 251));
    await blobs.put("file-big", chunksOf(data, 65_536));
    const cases: [number, number | undefined][] = [[0, undefined], [0, 262_144], [0, 262_145], [100_000, 100_100], [123, 650_001], [699_990, undefined], [650_000, 800_000]];
    for (const [start, end] of cases) {
      const stream = await blobs.read("file-big", { start, end });
      const chunks: Buffer[] = [];
      for await (const chunk of stream) chunks.push(chunk as Buffer);
      // Byte chunks either way (not one object), and exactly the bytes asked for.
      expect(chunks.every((chunk) => Buffer.isBuffer(chunk))).toBe(true);
      expect(Buffer.concat(chunks).equals(data.subarray(start, end)), `${start}-${end}`).toBe(true);
    }
    // A small blob read at once; an empty one too.
    await blobs.put("file-small", chunksOf(data.subarray(0, 1_000), 300));
    expect((await readAll(await blobs.read("file-small"))).equals(data.subarray(0, 1_000))).toBe(true);
    await blobs.put("file-empty", chunksOf(Buffer.alloc(0), 1));
    expect((await readAll(await blobs.read("file-empty"))).length).toBe(0);
  });

  it("reports a missing blob as BlobNotFoundError, null size and false delete", async () => {
    const { blobs } = openBlobs("blob missing");
    await expect(blobs.read("file-nope")).rejects.toBeInstanceOf(BlobNotFoundError);
    expect(await blobs.size("file-nope")).toBeNull();
    expect(await blobs.delete("file-nope")).toBe(false);
  });

  it("deletes a blob", async () => {
    const { blobs } = openBlobs("blob delete");
    await blobs.put("file-gone", chunksOf(Buffer.from("bye"), 3));
    expect(await blobs.delete("file-gone")).toBe(true);
    await expect(blobs.read("file-gone")).rejects.toBeInstanceOf(BlobNotFoundError);
  });

  it("stops reading at maxBytes, throws BlobTooLargeError and keeps nothing", async () => {
    const { blobs, dataDir } = openBlobs("blob too large");
    let produced = 0;
    async function* endless(): AsyncGenerator<Uint8Array> {
      for (;;) {
        produced += 1000;
        yield Buffer.alloc(1000, 1);
      }
    }
    await expect(blobs.put("file-big", endless(), { maxBytes: 10_500 })).rejects.toBeInstanceOf(BlobTooLargeError);
    expect(produced).toBe(11_000);
    expect(await blobs.size("file-big")).toBeNull();
    expect(leftovers(dataDir)).toEqual([]);
  });

  it("keeps a blob of exactly maxBytes", async () => {
    const { blobs } = openBlobs("blob exactly max");
    const info = await blobs.put("file-exact", chunksOf(Buffer.alloc(100, 7), 30), { maxBytes: 100 });
    expect(info.bytes).toBe(100);
  });

  it("leaves nothing readable when a writer aborts or its source fails", async () => {
    const { blobs, dataDir } = openBlobs("blob abort");
    const writer = await blobs.createWriter("file-aborted");
    await writer.write(Buffer.from("partial"));
    expect(writer.bytesWritten).toBe(7);
    await writer.abort();
    await writer.abort();
    async function* failing(): AsyncGenerator<Uint8Array> {
      yield Buffer.from("some");
      throw new Error("connection reset");
    }
    await expect(blobs.put("file-failed", failing())).rejects.toThrow("connection reset");
    expect(await blobs.size("file-aborted")).toBeNull();
    expect(await blobs.size("file-failed")).toBeNull();
    expect(leftovers(dataDir)).toEqual([]);
  });

  it("makes a blob visible only on commit, replacing the previous one whole", async () => {
    const { blobs } = openBlobs("blob commit");
    await blobs.put("file-v", chunksOf(Buffer.from("version one"), 4));
    const reader = await blobs.read("file-v");
    const writer = await blobs.createWriter("file-v");
    await writer.write(Buffer.from("version two"));
    expect((await readAll(await blobs.read("file-v"))).toString()).toBe("version one");
    const info = await writer.commit();
    expect(info).toEqual({ bytes: 11, sha256: sha256(Buffer.from("version two")) });
    expect((await readAll(await blobs.read("file-v"))).toString()).toBe("version two");
    // A reader opened before the commit still sees the version it opened.
    expect((await readAll(reader)).toString()).toBe("version one");
    await expect(writer.write(Buffer.from("late"))).rejects.toThrow(/already committed/);
  });

  it("holds a small blob until commit and streams one that outgrows 256 KiB, both whole, reusing no caller buffer", async () => {
    const { blobs, dataDir } = openBlobs("blob small and large");
    // Small: nothing reaches the disk before commit (one trip to disk at commit), and a buffer the caller
    // refills after each write does not change what was written.
    const small = await blobs.createWriter("file-small");
    const reused = Buffer.alloc(1000);
    const expected: Buffer[] = [];
    for (let i = 0; i < 5; i += 1) {
      reused.fill(65 + i);
      expected.push(Buffer.from(reused));
      await small.write(reused);
    }
    expect(leftovers(dataDir)).toEqual([]);
    expect(await small.commit()).toEqual({ bytes: 5000, sha256: sha256(Buffer.concat(expected)) });
    expect((await readAll(await blobs.read("file-small"))).equals(Buffer.concat(expected))).toBe(true);
    // Large: crosses the limit mid-stream; the part file exists before commit, the held bytes come first.
    const data = Buffer.from(Array.from({ length: 700_000 }, (_, i) => i % 251));
    const large = await blobs.createWriter("file-large");
    for await (const chunk of chunksOf(data, 100_000)) await large.write(chunk);
    expect(leftovers(dataDir).filter((name) => name.startsWith(".tmp/file-large."))).toHaveLength(1);
    expect(await large.commit()).toEqual({ bytes: data.length, sha256: sha256(data) });
    expect((await readAll(await blobs.read("file-large"))).equals(data)).toBe(true);
    expect(leftovers(dataDir).sort()).toEqual(["file-large", "file-small"]);
  });

  it("writes many blobs concurrently without mixing their contents", async () => {
    const { blobs } = openBlobs("blob concurrent");
    const payloads = Array.from({ length: 8 }, (_, i) => Buffer.alloc(50_000 + i * 1000, i + 1));
    const infos = await Promise.all(payloads.map((data, i) => blobs.put(`file-c${i}`, chunksOf(data, 4096))));
    for (const [i, data] of payloads.entries()) {
      expect(infos[i]).toEqual({ bytes: data.length, sha256: sha256(data) });
      expect((await readAll(await blobs.read(`file-c${i}`))).equals(data)).toBe(true);
    }
  });

  it("rejects keys that could leave the files folder", async () => {
    const { blobs } = openBlobs("blob bad keys");
    for (const key of ["../etc/passwd", "a/b", "a\\b", "..", ".tmp", ""]) {
      await expect(blobs.createWriter(key)).rejects.toMatchObject({ code: "invalid_request" });
      await expect(blobs.read(key)).rejects.toMatchObject({ code: "invalid_request" });
    }
  });

  it("close aborts writers still open", async () => {
    const { blobs, dataDir } = openBlobs("blob close");
    const writer = await blobs.createWriter("file-open");
    await writer.write(Buffer.from("unfinished"));
    await blobs.close();
    await expect(writer.commit()).rejects.toThrow(/already aborted/);
    expect(leftovers(dataDir)).toEqual([]);
  });
});
