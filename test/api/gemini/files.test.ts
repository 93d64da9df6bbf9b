/**
 * Gemini Files API through the real `@google/genai` SDK (resumable upload, get, list, delete, download),
 * plus the raw protocol cases the SDK cannot produce (truncated and offset-mismatched uploads, oversized
 * uploads, multipart), against a real spool.
 */
import { createHash } from "node:crypto";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { ApiError } from "@google/genai";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startGeminiTestApp, type GeminiTestApp } from "./gemini-test-app.ts";

let spool: GeminiTestApp;
const scratch = mkdtempSync(path.join(tmpdir(), "spool-gemini-files-"));

beforeAll(async () => {
  spool = await startGeminiTestApp(
    { models: [{ name: "gemini-test", engine: "openai", baseUrl: "http://127.0.0.1:9/v1" }], limits: { maxGeminiUploadBytes: 12 * 1024 * 1024 } },
    { label: "gemini-files", workers: false },
  );
});

afterAll(async () => {
  await spool?.stop();
});

function writeScratch(name: string, content: string | Buffer): string {
  const file = path.join(scratch, name);
  writeFileSync(file, content);
  return file;
}

async function startUpload(declared: number, body: unknown = { file: { displayName: "raw", mimeType: "jsonl" } }): Promise<string> {
  const response = await fetch(`${spool.url}/upload/v1beta/files`, {
    method: "POST",
    headers: {
      "x-goog-api-key": "g-test",
      "content-type": "application/json",
      "x-goog-upload-protocol": "resumable",
      "x-goog-upload-command": "start",
      "x-goog-upload-header-content-length": String(declared),
      "x-goog-upload-header-content-type": "jsonl",
    },
    body: JSON.stringify(body),
  });
  expect(response.status).toBe(200);
  expect(response.headers.get("x-goog-upload-status")).toBe("active");
  const url = response.headers.get("x-goog-upload-url") ?? "";
  expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/upload\/v1beta\/files\?upload_id=\w+&upload_protocol=resumable$/);
  return url;
}

function sendChunk(url: string, command: string, offset: number, bytes: Buffer): Promise<Response> {
  return fetch(url, {
    method: "POST",
    headers: { "x-goog-api-key": "g-test", "content-type": "application/json", "x-goog-upload-command": command, "x-goog-upload-offset": String(offset) },
    body: new Uint8Array(bytes),
  });
}

async function fileCount(): Promise<number> {
  let count = 0;
  for await (const file of await spool.ai.files.list({ config: { pageSize: 100 } })) if (file.name) count += 1;
  return count;
}

describe("Gemini Files API", () => {
  it("uploads a file through the SDK's resumable protocol and returns a complete File resource", async () => {
    const content = '{"key":"a","request":{"contents":[{"parts":[{"text":"hi"}]}]}}\n';
    const file = await spool.ai.files.upload({ file: writeScratch("small.jsonl", content), config: { mimeType: "jsonl", displayName: "my-batch" } });
    expect(file.name).toMatch(/^files\/file-[a-z0-9]+$/);
    expect(file.displayName).toBe("my-batch");
    expect(file.mimeType).toBe("jsonl");
    expect(file.sizeBytes).toBe(String(Buffer.byteLength(content)));
    expect(file.state).toBe("ACTIVE");
    expect(file.source).toBe("UPLOADED");
    const hex = createHash("sha256").update(content).digest("hex");
    expect(file.sha256Hash).toBe(Buffer.from(hex).toString("base64"));
    expect(file.uri).toMatch(/^https:\/\/[^/]+\/v1beta\/files\/[a-z0-9]+$/);
    expect(Date.parse(file.expirationTime ?? "") - Date.parse(file.createTime ?? "")).toBe(48 * 3600 * 1000);

    const fetched = await spool.ai.files.get({ name: file.name ?? "" });
    expect(fetched).toMatchObject({ name: file.name, sizeBytes: file.sizeBytes, sha256Hash: file.sha256Hash });
  });

  it("uploads a 9 MiB file in two chunks (8 MiB + 1 MiB) and downloads identical bytes", async () => {
    const bytes = Buffer.alloc(9 * 1024 * 1024);
    for (let i = 0; i < bytes.length; i += 1) bytes[i] = (i * 31 + 7) % 251;
    const file = await spool.ai.files.upload({ file: writeScratch("big.bin", bytes), config: { mimeType: "application/octet-stream" } });
    expect(file.sizeBytes).toBe(String(bytes.length));
    const target = path.join(scratch, "big-downloaded.bin");
    await spool.ai.files.download({ file: file.name ?? "", downloadPath: target });
    expect(createHash("sha256").update(readFileSync(target)).digest("hex")).toBe(createHash("sha256").update(bytes).digest("hex"));
  });

  it("downloads by name, by File object (https uri) and at the REST /download path", async () => {
    const file = await spool.ai.files.upload({ file: writeScratch("dl.jsonl", "line one\n"), config: { mimeType: "jsonl" } });
    const byName = path.join(scratch, "by-name.jsonl");
    await spool.ai.files.download({ file: file.name ?? "", downloadPath: byName });
    expect(readFileSync(byName, "utf8")).toBe("line one\n");
    const byObject = path.join(scratch, "by-object.jsonl");
    await spool.ai.files.download({ file, downloadPath: byObject });
    expect(readFileSync(byObject, "utf8")).toBe("line one\n");
    const rest = await fetch(`${spool.url}/download/v1beta/files/${(file.name ?? "").slice("files/".length)}:download?alt=media&key=g-test`);
    expect(rest.status).toBe(200);
    expect(await rest.text()).toBe("line one\n");
  });

  it("lists files newest first in pages and omits nextPageToken on the last page", async () => {
    const names: string[] = [];
    for (let i = 0; i < 3; i += 1) {
      const file = await spool.ai.files.upload({ file: writeScratch(`page-${i}.jsonl`, `${i}\n`), config: { mimeType: "jsonl" } });
      names.push(file.name ?? "");
    }
    const first = await fetch(`${spool.url}/v1beta/files?pageSize=2`, { headers: { "x-goog-api-key": "g-test" } });
    const firstPage = (await first.json()) as { files: { name: string }[]; nextPageToken?: string };
    expect(first.headers.get("content-type")).toBe("application/json; charset=UTF-8");
    expect(firstPage.files.map((file) => file.name)).toEqual([names[2], names[1]]);
    expect(firstPage.nextPageToken).toBeTruthy();

    const seen: string[] = [];
    const pager = await spool.ai.files.list({ config: { pageSize: 2 } });
    for await (const file of pager) seen.push(file.name ?? "");
    expect(seen.slice(0, 3)).toEqual([names[2], names[1], names[0]]);
    expect(new Set(seen).size).toBe(seen.length);

    let token: string | undefined = firstPage.nextPageToken;
    let pages = 1;
    while (token) {
      const page = (await (await fetch(`${spool.url}/v1beta/files?pageSize=2&pageToken=${token}`, { headers: { "x-goog-api-key": "g-test" } })).json()) as { nextPageToken?: string };
      expect(page.nextPageToken).not.toBe("");
      token = page.nextPageToken;
      pages += 1;
    }
    expect(pages).toBe(Math.ceil(seen.length / 2));
  });

  it("deletes a file with {} and then answers 404 NOT_FOUND", async () => {
    const file = await spool.ai.files.upload({ file: writeScratch("gone.jsonl", "x\n"), config: { mimeType: "jsonl" } });
    const response = await fetch(`${spool.url}/v1beta/${file.name}`, { method: "DELETE", headers: { "x-goog-api-key": "g-test", "content-type": "application/json" }, body: "{}" });
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({});
    const error = await spool.ai.files.get({ name: file.name ?? "" }).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(ApiError);
    expect((error as ApiError).status).toBe(404);
    expect(JSON.parse((error as ApiError).message)).toMatchObject({ error: { code: 404, status: "NOT_FOUND" } });
    await expect(spool.ai.files.delete({ name: file.name ?? "" })).rejects.toMatchObject({ status: 404 });
  });

  it("keeps a client-chosen name and answers 409 ALREADY_EXISTS for a second upload with it", async () => {
    const file = await spool.ai.files.upload({ file: new Blob(["hello\n"]), config: { mimeType: "application/jsonl", name: "files/chosen-name1" } });
    expect(file.name).toBe("files/chosen-name1");
    const again = await spool.ai.files.upload({ file: new Blob(["x"]), config: { mimeType: "jsonl", name: "chosen-name1" } }).catch((error: unknown) => error);
    expect((again as ApiError).status).toBe(409);
    expect((again as ApiError).message).toContain("ALREADY_EXISTS");
    const bad = await spool.ai.files.upload({ file: new Blob(["x"]), config: { mimeType: "jsonl", name: "Bad_Name" } }).catch((error: unknown) => error);
    expect((bad as ApiError).status).toBe(400);
    expect((bad as ApiError).message).toContain("file.name");
  });

  it("rejects an upload finalized with fewer bytes than declared, and keeps no file", async () => {
    const before = await fileCount();
    const url = await startUpload(100);
    const response = await sendChunk(url, "upload, finalize", 0, Buffer.alloc(60, 97));
    expect(response.status).toBe(400);
    expect(response.headers.get("x-goog-upload-status")).toBe("final");
    const body = (await response.json()) as { error: { status: string; message: string } };
    expect(body.error.status).toBe("INVALID_ARGUMENT");
    expect(body.error.message).toContain("truncated");
    // The session is unusable afterwards, and no File appeared.
    const retry = await sendChunk(url, "upload, finalize", 60, Buffer.alloc(40, 97));
    expect(retry.status).toBe(400);
    expect(await fileCount()).toBe(before);
  });

  it("rejects a chunk at the wrong offset, abandons the session, and keeps no file", async () => {
    const before = await fileCount();
    const url = await startUpload(20);
    const first = await sendChunk(url, "upload", 0, Buffer.alloc(10, 98));
    expect(first.status).toBe(200);
    expect(first.headers.get("x-goog-upload-status")).toBe("active");
    const query = await fetch(url, { method: "POST", headers: { "x-goog-upload-command": "query", "x-goog-api-key": "g-test" } });
    expect(query.headers.get("x-goog-upload-size-received")).toBe("10");
    const skipped = await sendChunk(url, "upload, finalize", 15, Buffer.alloc(5, 98));
    expect(skipped.status).toBe(400);
    expect(((await skipped.json()) as { error: { message: string } }).error.message).toContain("X-Goog-Upload-Offset");
    const resumed = await sendChunk(url, "upload, finalize", 10, Buffer.alloc(10, 98));
    expect(resumed.status).toBe(400);
    expect(await fileCount()).toBe(before);
  });

  it("rejects more bytes than declared and uploads beyond the size limit with nothing kept", async () => {
    const before = await fileCount();
    const url = await startUpload(5);
    const over = await sendChunk(url, "upload, finalize", 0, Buffer.alloc(8, 99));
    expect(over.status).toBe(400);

    const tooBig = await fetch(`${spool.url}/upload/v1beta/files`, {
      method: "POST",
      headers: { "x-goog-upload-protocol": "resumable", "x-goog-upload-command": "start", "x-goog-upload-header-content-length": String(13 * 1024 * 1024), "x-goog-api-key": "g-test" },
    });
    expect(tooBig.status).toBe(413);
    expect(await fileCount()).toBe(before);
  });

  it("cancels a session on request", async () => {
    const url = await startUpload(10);
    const cancel = await fetch(url, { method: "POST", headers: { "x-goog-upload-command": "cancel", "x-goog-api-key": "g-test" } });
    expect(cancel.status).toBe(200);
    expect(cancel.headers.get("x-goog-upload-status")).toBe("cancelled");
    const after = await sendChunk(url, "upload, finalize", 0, Buffer.alloc(10, 1));
    expect(after.status).toBe(400);
  });

  it("accepts the REST docs' flow: one 'upload, finalize' request with a curl content type", async () => {
    const url = await startUpload(6, { file: { display_name: "curl-style" } });
    const response = await fetch(url, {
      method: "POST",
      headers: { "x-goog-upload-command": "upload, finalize", "x-goog-upload-offset": "0", "content-type": "application/x-www-form-urlencoded", "x-goog-api-key": "g-test" },
      body: "a=b&c\n",
    });
    expect(response.status).toBe(200);
    const { file } = (await response.json()) as { file: { name: string; displayName: string; sizeBytes: string } };
    expect(file).toMatchObject({ displayName: "curl-style", sizeBytes: "6" });
  });

  it("accepts a simple multipart/related upload", async () => {
    const boundary = "spool-boundary-42";
    const media = '{"key":"m","request":{"contents":[{"parts":[{"text":"x"}]}]}}\n';
    const body = [
      `--${boundary}`,
      "Content-Type: application/json; charset=UTF-8",
      "",
      JSON.stringify({ file: { displayName: "multi", mimeType: "jsonl" } }),
      `--${boundary}`,
      "Content-Type: jsonl",
      "",
      media,
      `--${boundary}--`,
      "",
    ].join("\r\n");
    const response = await fetch(`${spool.url}/upload/v1beta/files`, {
      method: "POST",
      headers: { "x-goog-upload-protocol": "multipart", "content-type": `multipart/related; boundary=${boundary}`, "x-goog-api-key": "g-test" },
      body,
    });
    expect(response.status).toBe(200);
    const { file } = (await response.json()) as { file: { name: string; sizeBytes: string; displayName: string } };
    expect(file).toMatchObject({ displayName: "multi", sizeBytes: String(Buffer.byteLength(media)) });
    const download = await fetch(`${spool.url}/v1beta/${file.name}:download?alt=media`, { headers: { "x-goog-api-key": "g-test" } });
    expect(await download.text()).toBe(media);
  });
});
