/**
 * Slow and stalled clients (config `server.*`): a body that stops arriving is answered 408 in the
 * dialect's envelope and its connection closed, a slow-loris client is cut off at the header deadline,
 * and nothing of theirs is kept; a big upload trickling in steadily, and an engine slower than the idle
 * limit, are not cut off.
 */
import { connect, type Socket } from "node:net";
import OpenAI from "openai";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startFakeOpenAIUpstream, type FakeOpenAIUpstream } from "../helpers/fake-openai-upstream.ts";
import { startTestApp, type TestApp } from "../helpers/spool-app.ts";

const IDLE_MS = 500;

interface RawReply {
  status: number;
  headers: string;
  body: string;
}

/** Opens a connection and returns it with a promise of everything the server sends until it closes. */
async function openRaw(url: string): Promise<{ socket: Socket; reply: Promise<RawReply> }> {
  const { port } = new URL(url);
  const socket = connect(Number(port), "127.0.0.1");
  await new Promise<void>((resolve) => socket.once("connect", () => resolve()));
  const reply = new Promise<RawReply>((resolve, reject) => {
    let received = "";
    socket.on("data", (chunk) => (received += chunk.toString("utf8")));
    socket.on("close", () => {
      const split = received.indexOf("\r\n\r\n");
      resolve({ status: Number(/^HTTP\/1\.1 (\d+)/.exec(received)?.[1] ?? 0), headers: received.slice(0, split), body: received.slice(split + 4) });
    });
    socket.on("error", reject);
  });
  return { socket, reply };
}

/** Writes `total` bytes of `byte` in `chunk`-sized writes, one every `everyMs`. */
async function trickle(socket: Socket, total: number, chunk: number, everyMs: number, byte = "a"): Promise<void> {
  for (let sent = 0; sent < total; sent += chunk) {
    socket.write(byte.repeat(Math.min(chunk, total - sent)));
    await new Promise((resolve) => setTimeout(resolve, everyMs));
  }
}

function multipartHead(boundary: string, filename: string): string {
  return `--${boundary}\r\nContent-Disposition: form-data; name="purpose"\r\n\r\nuser_data\r\n--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="${filename}"\r\nContent-Type: application/octet-stream\r\n\r\n`;
}

describe("slow clients: the body idle deadline", () => {
  let upstream: FakeOpenAIUpstream;
  let spool: TestApp;
  let openai: OpenAI;

  beforeAll(async () => {
    upstream = await startFakeOpenAIUpstream();
    spool = await startTestApp(
      { models: [{ name: "gpt-test", engine: "openai", baseUrl: upstream.url, maxRetries: 0 }], server: { bodyIdleTimeoutMs: IDLE_MS } },
      { label: "slow-idle", workers: false },
    );
    openai = new OpenAI({ apiKey: "sk-test", baseURL: spool.openaiBaseUrl, maxRetries: 0 });
  });
  afterAll(async () => {
    await spool?.stop();
    await upstream?.close();
  });

  it("answers a JSON body that stops arriving with a 408 in the OpenAI envelope and closes the connection", async () => {
    const { socket, reply } = await openRaw(spool.url);
    socket.write("POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{\"model\":");
    const answer = await reply;
    expect(answer.status).toBe(408);
    expect(answer.headers).toMatch(/\r\nconnection: close/i);
    expect(JSON.parse(answer.body)).toEqual({ error: { message: expect.stringContaining("No part of the request body arrived for 0.5 s"), type: "invalid_request_error", param: null, code: "request_timeout" } });
  });

  it("answers a JSON body that arrives in pieces, pauses shorter than the idle limit between them", async () => {
    const body = JSON.stringify({ model: "gpt-test", messages: [{ role: "user", content: "pieces" }] });
    const { socket, reply } = await openRaw(spool.url);
    socket.write(`POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n`);
    for (let at = 0; at < body.length; at += 20) {
      await new Promise((resolve) => setTimeout(resolve, IDLE_MS / 5));
      socket.write(body.slice(at, at + 20));
    }
    const answer = await reply;
    expect(answer.status).toBe(200);
    expect(answer.body).toContain('"object":"chat.completion"');
  });

  it("answers a stalled OpenAI multipart upload with a 408 and keeps nothing", async () => {
    const before = (await openai.files.list()).data.length;
    const { socket, reply } = await openRaw(spool.url);
    socket.write("POST /v1/files HTTP/1.1\r\nHost: x\r\nContent-Type: multipart/form-data; boundary=B\r\nContent-Length: 100000\r\n\r\n");
    socket.write(`${multipartHead("B", "stalled.jsonl")}{"custom_id":"a"}\n`);
    const answer = await reply;
    expect(answer.status).toBe(408);
    expect(JSON.parse(answer.body)).toMatchObject({ error: { code: "request_timeout" } });
    expect((await openai.files.list()).data.length).toBe(before);
  });

  it("answers a stalled Gemini chunk with a 408 in Google's envelope, and the session resumes from what arrived", async () => {
    const start = await fetch(`${spool.url}/upload/v1beta/files`, {
      method: "POST",
      headers: { "x-goog-upload-protocol": "resumable", "x-goog-upload-command": "start", "x-goog-upload-header-content-length": "300", "content-type": "application/json" },
      body: JSON.stringify({ file: { displayName: "resumed" } }),
    });
    const uploadUrl = new URL(start.headers.get("x-goog-upload-url") ?? "");
    const { socket, reply } = await openRaw(spool.url);
    socket.write(`POST ${uploadUrl.pathname}${uploadUrl.search} HTTP/1.1\r\nHost: x\r\nX-Goog-Upload-Command: upload, finalize\r\nX-Goog-Upload-Offset: 0\r\nContent-Length: 300\r\n\r\n${"a".repeat(100)}`);
    const answer = await reply;
    expect(answer.status).toBe(408);
    expect(JSON.parse(answer.body)).toMatchObject({ error: { code: 408, status: "DEADLINE_EXCEEDED" } });

    const query = await fetch(uploadUrl, { method: "POST", headers: { "x-goog-upload-command": "query" } });
    expect(query.headers.get("x-goog-upload-size-received")).toBe("100");
    const rest = await fetch(uploadUrl, { method: "POST", headers: { "x-goog-upload-command": "upload, finalize", "x-goog-upload-offset": "100" }, body: "b".repeat(200) });
    expect(rest.status).toBe(200);
    const file = ((await rest.json()) as { file: { name: string; sizeBytes: string } }).file;
    expect(file.sizeBytes).toBe("300");
    const bytes = await (await fetch(`${spool.url}/v1beta/${file.name}:download?alt=media`)).text();
    expect(bytes).toBe(`${"a".repeat(100)}${"b".repeat(200)}`);
  });

  it("accepts a 2 MB upload trickled in chunks faster than the idle limit, in both dialects", { timeout: 30_000 }, async () => {
    const size = 2 * 1024 * 1024;
    const chunk = 128 * 1024;
    const openaiUpload = (async () => {
      const { socket, reply } = await openRaw(spool.url);
      const head = multipartHead("T", "trickled.jsonl");
      const tail = "\r\n--T--\r\n";
      socket.write(`POST /v1/files HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Type: multipart/form-data; boundary=T\r\nContent-Length: ${Buffer.byteLength(head) + size + tail.length}\r\n\r\n${head}`);
      await trickle(socket, size, chunk, IDLE_MS / 5);
      socket.write(tail);
      return reply;
    })();
    const geminiUpload = (async () => {
      const { socket, reply } = await openRaw(spool.url);
      socket.write(`POST /upload/v1beta/files HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Type: application/jsonl\r\nContent-Length: ${size}\r\n\r\n`);
      await trickle(socket, size, chunk, IDLE_MS / 5, "g");
      return reply;
    })();
    const [fromOpenAI, fromGemini] = await Promise.all([openaiUpload, geminiUpload]);
    expect(fromOpenAI.status).toBe(200);
    expect(JSON.parse(fromOpenAI.body)).toMatchObject({ bytes: size, filename: "trickled.jsonl" });
    expect(fromGemini.status).toBe(200);
    expect(JSON.parse(fromGemini.body)).toMatchObject({ file: { sizeBytes: String(size) } });
  });

  it("does not time out an upload while spool itself is slow to store the bytes", { timeout: 30_000 }, async () => {
    // Storage that takes three idle periods over its first write: the connection idles because spool
    // stopped reading, not because the client stalled.
    const blobs = spool.app.context.blobs;
    let slowWrites = 0;
    spool.app.context.blobs = Object.assign(Object.create(blobs) as typeof blobs, {
      async createWriter(key: string) {
        const writer = await blobs.createWriter(key);
        let first = true;
        return Object.assign(Object.create(writer) as typeof writer, {
          async write(chunk: Buffer) {
            if (first) {
              first = false;
              slowWrites += 1;
              await new Promise((resolve) => setTimeout(resolve, IDLE_MS * 3));
            }
            return writer.write(chunk);
          },
        });
      },
    });
    try {
      const bytes = new Uint8Array(4 * 1024 * 1024).fill(120);
      const form = new FormData();
      form.append("purpose", "user_data");
      form.append("file", new Blob([bytes]), "slow-storage.jsonl");
      const viaOpenAI = await fetch(`${spool.openaiBaseUrl}/files`, { method: "POST", body: form });
      expect(viaOpenAI.status).toBe(200);
      const viaGemini = await fetch(`${spool.url}/upload/v1beta/files`, { method: "POST", headers: { "content-type": "application/jsonl" }, body: bytes });
      expect(viaGemini.status).toBe(200);
      expect(((await viaGemini.json()) as { file: { sizeBytes: string } }).file.sizeBytes).toBe(String(bytes.length));
      expect(slowWrites).toBe(2);
    } finally {
      spool.app.context.blobs = blobs;
    }
  });

  it("does not cut off a request whose engine answers after longer than the idle limit", async () => {
    upstream.setFault(() => ({ delayMs: IDLE_MS * 3 }));
    try {
      const reply = await openai.chat.completions.create({ model: "gpt-test", messages: [{ role: "user", content: "take your time" }] });
      expect(reply.choices[0]?.message.content).toBe("echo: take your time");
      // The same keep-alive connection serves the next request.
      expect((await openai.models.list()).data.map((model) => model.id)).toEqual(["gpt-test"]);
    } finally {
      upstream.setFault(null);
    }
  });
});

describe("slow clients: header and whole-request deadlines", () => {
  let spool: TestApp;

  beforeAll(async () => {
    spool = await startTestApp(
      { models: [{ name: "gpt-test", engine: "openai", baseUrl: "http://127.0.0.1:9/v1" }], server: { headersTimeoutMs: 500, requestTimeoutMs: 1_000, bodyIdleTimeoutMs: 10_000 } },
      { label: "slow-deadlines", workers: false },
    );
  });
  afterAll(async () => spool?.stop());

  it("cuts off a slow-loris client that never finishes its headers with a 408", async () => {
    const { socket, reply } = await openRaw(spool.url);
    socket.write("GET /v1/files HTTP/1.1\r\nHost: x\r\n");
    const dripping = setInterval(() => socket.write("X-Drip: 1\r\n"), 100);
    try {
      const answer = await reply;
      expect(answer.status).toBe(408);
      expect(JSON.parse(answer.body)).toMatchObject({ error: { code: "request_timeout", message: expect.stringContaining("headers within 0.5 s") } });
    } finally {
      clearInterval(dripping);
    }
  });

  it("answers a body still trickling at the whole-request deadline with a 408 in the path's dialect", async () => {
    const { socket, reply } = await openRaw(spool.url);
    socket.write("POST /v1beta/models/gpt-test:generateContent HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n");
    const dripping = setInterval(() => socket.write(" "), 50);
    try {
      const answer = await reply;
      expect(answer.status).toBe(408);
      expect(JSON.parse(answer.body)).toMatchObject({ error: { code: 408, status: "DEADLINE_EXCEEDED", message: expect.stringContaining("the whole request within 1 s") } });
    } finally {
      clearInterval(dripping);
    }
    expect((await fetch(`${spool.url}/health`)).status).toBe(200);
  });
});
