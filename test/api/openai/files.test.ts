import { createReadStream, writeFileSync } from "node:fs";
import { connect } from "node:net";
import path from "node:path";
import OpenAI, { toFile } from "openai";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { BlobStore } from "../../../src/store/blob-store.ts";
import { waitFor } from "../../helpers/wait-for.ts";
import { startOpenAITestServer, type OpenAITestServer } from "./openai-test-server.ts";

const THIRTY_DAYS = 30 * 24 * 3600;

/** Bytes that are not valid UTF-8 and span many chunks: a download must return them unchanged. */
function binaryContent(size: number): Buffer {
  const bytes = Buffer.alloc(size);
  for (let i = 0; i < size; i += 1) bytes[i] = (i * 7919) % 256;
  return bytes;
}

describe("OpenAI Files API", () => {
  let spool: OpenAITestServer;
  let client: OpenAI;

  beforeAll(async () => {
    spool = await startOpenAITestServer({ label: "openai-files" });
    client = spool.client;
  });
  afterAll(async () => spool?.close());

  it("uploads a Buffer and returns a processed file object with a 30-day expiry for purpose batch", async () => {
    const content = '{"custom_id":"a"}\n';
    const file = await client.files.create({ file: await toFile(Buffer.from(content), "batch.jsonl"), purpose: "batch" });
    expect(file).toEqual({
      id: expect.stringMatching(/^file-[a-z0-9]+$/),
      object: "file",
      bytes: Buffer.byteLength(content),
      created_at: expect.any(Number),
      filename: "batch.jsonl",
      purpose: "batch",
      status: "processed",
      expires_at: file.created_at + THIRTY_DAYS,
      status_details: null,
    });
    expect(Math.abs(file.created_at - Date.now() / 1000)).toBeLessThan(5);
    expect(await client.files.retrieve(file.id)).toEqual(file);
    const other = await client.files.create({ file: await toFile(Buffer.from("x"), "notes.txt"), purpose: "user_data" });
    expect(other.expires_at).toBeNull();
  });

  it("streams a chunked fs.createReadStream upload with expires_after and downloads it byte for byte", async () => {
    const bytes = binaryContent(3 * 1024 * 1024 + 17);
    const source = path.join(spool.dataDir, "upload-source.bin");
    writeFileSync(source, bytes);
    const file = await client.files.create({
      file: createReadStream(source),
      purpose: "user_data",
      expires_after: { anchor: "created_at", seconds: 3600 },
    });
    expect(file.filename).toBe("upload-source.bin");
    expect(file.bytes).toBe(bytes.length);
    expect(file.expires_at).toBe(file.created_at + 3600);
    const response = await client.files.content(file.id);
    expect(response.headers.get("content-type")).toBe("application/octet-stream");
    expect(Buffer.from(await response.arrayBuffer()).equals(bytes)).toBe(true);
  });

  it("pages through files with has_more and after, newest first, filtered by purpose", async () => {
    const ids: string[] = [];
    for (let i = 0; i < 5; i += 1) {
      ids.push((await client.files.create({ file: await toFile(Buffer.from(`page ${i}`), `p${i}.txt`), purpose: "evals" })).id);
    }
    const first = await client.files.list({ purpose: "evals", limit: 2 });
    expect(first.data.map((file) => file.id)).toEqual([ids[4], ids[3]]);
    expect(first.has_more).toBe(true);
    const all: string[] = [];
    for await (const file of client.files.list({ purpose: "evals", limit: 2 })) all.push(file.id);
    expect(all).toEqual([...ids].reverse());
    const ascending = await client.files.list({ purpose: "evals", order: "asc", limit: 10 });
    expect(ascending.data.map((file) => file.id)).toEqual(ids);
    expect(ascending.has_more).toBe(false);
    const raw = (await (await fetch(`${spool.url}/v1/files?purpose=evals&limit=2`)).json()) as Record<string, unknown>;
    expect(raw).toMatchObject({ object: "list", first_id: ids[4], last_id: ids[3], has_more: true });
  });

  it("rejects a bad list limit naming the parameter", async () => {
    await expect(client.files.list({ limit: 0 })).rejects.toMatchObject({ status: 400, param: "limit" });
  });

  it("deletes the file and its contents", async () => {
    const file = await client.files.create({ file: await toFile(Buffer.from("bye"), "bye.txt"), purpose: "user_data" });
    expect(await client.files.delete(file.id)).toEqual({ id: file.id, object: "file", deleted: true });
    await expect(client.files.retrieve(file.id)).rejects.toBeInstanceOf(OpenAI.NotFoundError);
    await expect(client.files.content(file.id)).rejects.toMatchObject({ status: 404 });
    await expect(client.files.delete(file.id)).rejects.toMatchObject({ status: 404, param: "file_id" });
    expect(await spool.blobs.size(file.id)).toBeNull();
  });

  it("rejects an upload without purpose or with an unknown purpose, keeping nothing", async () => {
    const before = (await client.files.list()).data.length;
    const form = new FormData();
    form.append("file", new Blob(["abc"]), "a.jsonl");
    const missing = await fetch(`${spool.url}/v1/files`, { method: "POST", body: form });
    expect(missing.status).toBe(400);
    expect(await missing.json()).toMatchObject({ error: { param: "purpose", type: "invalid_request_error" } });
    await expect(client.files.create({ file: await toFile(Buffer.from("abc"), "a.jsonl"), purpose: "nonsense" as "batch" })).rejects.toMatchObject({
      status: 400,
      param: "purpose",
    });
    const noFile = new FormData();
    noFile.append("purpose", "batch");
    const response = await fetch(`${spool.url}/v1/files`, { method: "POST", body: noFile });
    expect(response.status).toBe(400);
    expect(await response.json()).toMatchObject({ error: { param: "file" } });
    expect((await client.files.list()).data.length).toBe(before);
  });

  it("answers 400 to a multipart body cut off before its closing boundary, keeping nothing", async () => {
    const before = (await client.files.list()).data.length;
    const body = '--XYZ\r\nContent-Disposition: form-data; name="purpose"\r\n\r\nbatch\r\n--XYZ\r\nContent-Disposition: form-data; name="file"; filename="cut.jsonl"\r\n\r\n{"a":1}';
    const response = await fetch(`${spool.url}/v1/files`, { method: "POST", headers: { "content-type": "multipart/form-data; boundary=XYZ" }, body });
    expect(response.status).toBe(400);
    expect(await response.json()).toMatchObject({ error: { type: "invalid_request_error", message: expect.stringContaining("malformed") } });
    expect((await client.files.list()).data.length).toBe(before);
  });

  it("accepts resource-style ids on the /v1beta/openai surface", async () => {
    const file = await spool.compatClient.files.create({ file: await toFile(Buffer.from("compat"), "c.jsonl"), purpose: "user_data" });
    expect((await spool.compatClient.files.retrieve(`files/${file.id}`)).id).toBe(file.id);
    const twoSegments = await fetch(`${spool.url}/v1beta/openai/files/files/${file.id}/content`);
    expect(await twoSegments.text()).toBe("compat");
  });
});

describe("OpenAI Files API upload limits", () => {
  let spool: OpenAITestServer;

  beforeAll(async () => {
    spool = await startOpenAITestServer({ label: "openai-files-limit", file: { limits: { maxUploadBytes: 1024 } } });
  });
  afterAll(async () => spool?.close());

  it("answers 413 to an upload over the limit, as a Buffer or a chunked stream, and keeps nothing", async () => {
    await expect(spool.client.files.create({ file: await toFile(Buffer.alloc(10_000, 97), "big.jsonl"), purpose: "batch" })).rejects.toMatchObject({
      status: 413,
      param: "file",
      type: "invalid_request_error",
    });
    const source = path.join(spool.dataDir, "big.bin");
    writeFileSync(source, binaryContent(2 * 1024 * 1024));
    await expect(spool.client.files.create({ file: createReadStream(source), purpose: "batch" })).rejects.toMatchObject({ status: 413 });
    expect((await spool.client.files.list()).data).toEqual([]);
    const atLimit = await spool.client.files.create({ file: await toFile(Buffer.alloc(1024, 98), "ok.jsonl"), purpose: "user_data" });
    expect(atLimit.bytes).toBe(1024);
  });

  it("holds vision and user_data uploads to their own limits, keeping nothing over them", async () => {
    const limited = await startOpenAITestServer({ label: "openai-files-purpose-limits", file: { limits: { maxVisionUploadBytes: 2048, maxUserDataUploadBytes: 4096 } } });
    try {
      await expect(limited.client.files.create({ file: await toFile(Buffer.alloc(2049, 1), "big.png"), purpose: "vision" })).rejects.toMatchObject({
        status: 413,
        param: "file",
        message: expect.stringContaining("'vision' may be at most 2048 bytes"),
      });
      await expect(limited.client.files.create({ file: await toFile(Buffer.alloc(4097, 1), "big.pdf"), purpose: "user_data" })).rejects.toMatchObject({ status: 413 });
      expect((await limited.client.files.list()).data).toEqual([]);
      expect((await limited.client.files.create({ file: await toFile(Buffer.alloc(2048, 1), "ok.png"), purpose: "vision" })).bytes).toBe(2048);
      const jsonl = `${JSON.stringify({ custom_id: "a", pad: "x".repeat(4096) })}\n`;
      expect((await limited.client.files.create({ file: await toFile(Buffer.from(jsonl), "batch.jsonl"), purpose: "batch" })).bytes).toBe(jsonl.length);
    } finally {
      await limited.close();
    }
  });

  it("keeps nothing when the client disconnects in the middle of an upload", async () => {
    const writers = trackWriters(spool);
    const before = (await spool.client.files.list()).data.length;
    const { port } = new URL(spool.url);
    const socket = connect(Number(port), "127.0.0.1");
    await new Promise<void>((resolve) => socket.once("connect", () => resolve()));
    const head = [
      "POST /v1/files HTTP/1.1",
      "Host: 127.0.0.1",
      "Content-Type: multipart/form-data; boundary=XYZ",
      "Transfer-Encoding: chunked",
      "",
      "",
    ].join("\r\n");
    const part = '--XYZ\r\nContent-Disposition: form-data; name="file"; filename="cut.jsonl"\r\nContent-Type: application/octet-stream\r\n\r\n{"custom_id":"x"}\n';
    socket.write(head + `${Buffer.byteLength(part).toString(16)}\r\n${part}\r\n`);
    await waitFor(() => writers.created > 0, { what: "the upload to start" });
    socket.destroy();
    await waitFor(() => writers.aborted > 0, { what: "the partial upload to be discarded" });
    expect(writers.committed).toBe(0);
    expect((await spool.client.files.list()).data.length).toBe(before);
  });
});

/** Wraps the context's BlobStore to count what uploads do with their writers. */
function trackWriters(spool: OpenAITestServer): { created: number; committed: number; aborted: number } {
  const counts = { created: 0, committed: 0, aborted: 0 };
  const inner: BlobStore = spool.context.blobs;
  spool.context.blobs = {

    read: (key, range) => inner.read(key, range),
    size: (key) => inner.size(key),
    delete: (key) => inner.delete(key),
    put: (key, source, options) => inner.put(key, source, options),
    close: () => inner.close(),
    async createWriter(key) {
      const writer = await inner.createWriter(key);
      counts.created += 1;
      return {
        write: (chunk) => writer.write(chunk),
        get bytesWritten() {
          return writer.bytesWritten;
        },
        async commit() {
          counts.committed += 1;
          return writer.commit();
        },
        async abort() {
          counts.aborted += 1;
          return writer.abort();
        },
      };
    },
  };
  return counts;
}
