/**
 * The HTTP edge shared by both dialects, against a real spool with both surfaces: failures of Fastify's
 * router and of Node's HTTP parser answered in the envelope of the path's dialect, JSON nested past the
 * limit refused on every JSON route before an engine sees it, page cursors that do not exist refused
 * naming the parameter, and non-ASCII upload names kept as sent.
 */
import { writeFileSync } from "node:fs";
import { connect } from "node:net";
import path from "node:path";
import { ApiError, GoogleGenAI } from "@google/genai";
import OpenAI from "openai";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startFakeOpenAIUpstream, type FakeOpenAIUpstream } from "../helpers/fake-openai-upstream.ts";
import { startTestApp, type TestApp } from "../helpers/spool-app.ts";
import { waitFor } from "../helpers/wait-for.ts";

let upstream: FakeOpenAIUpstream;
let spool: TestApp;
let openai: OpenAI;
let ai: GoogleGenAI;

beforeAll(async () => {
  upstream = await startFakeOpenAIUpstream();
  spool = await startTestApp({ models: [{ name: "gpt-test", engine: "openai", baseUrl: upstream.url, maxRetries: 0 }] }, { label: "http-edge", workers: false });
  openai = new OpenAI({ apiKey: "sk-test", baseURL: spool.openaiBaseUrl, maxRetries: 0 });
  ai = new GoogleGenAI({ apiKey: "g-test", httpOptions: { baseUrl: spool.url } });
});

afterAll(async () => {
  await spool?.stop();
  await upstream?.close();
});

type Envelope = { error: Record<string, unknown> };

async function openAIError(response: Response, status: number): Promise<Envelope["error"]> {
  expect(response.status).toBe(status);
  expect(response.headers.get("content-type")).toMatch(/^application\/json/);
  const body = (await response.json()) as Envelope;
  expect(Object.keys(body.error).sort()).toEqual(["code", "message", "param", "type"]);
  expect(body.error).toMatchObject({ message: expect.any(String), type: expect.any(String), code: expect.any(String) });
  return body.error;
}

async function googleError(response: Response, status: number): Promise<Envelope["error"]> {
  expect(response.status).toBe(status);
  expect(response.headers.get("content-type")).toMatch(/^application\/json/);
  const body = (await response.json()) as Envelope;
  expect(body.error).toMatchObject({ code: status, message: expect.any(String), status: expect.stringMatching(/^[A-Z_]+$/) });
  expect(body.error).not.toHaveProperty("type");
  return body.error;
}

/** Sends raw bytes and resolves with everything the server sent before closing. */
function rawExchange(bytes: string): Promise<string> {
  const { port } = new URL(spool.url);
  return new Promise((resolve, reject) => {
    const socket = connect(Number(port), "127.0.0.1", () => socket.write(bytes));
    let received = "";
    socket.on("data", (chunk) => (received += chunk.toString("latin1")));
    socket.on("end", () => resolve(received));
    socket.on("error", reject);
  });
}

describe("HTTP edge errors", () => {
  it("answers malformed percent-encoding in the envelope of the path's dialect, naming the URL", async () => {
    for (const prefix of ["/v1/files/", "/v1beta/openai/batches/"]) {
      for (const id of ["%ZZ", "%FF", "%C3%28"]) {
        expect(await openAIError(await fetch(`${spool.url}${prefix}${id}`), 400)).toMatchObject({ param: "url", code: "invalid_request", message: expect.stringContaining(`${prefix}${id}`) });
      }
    }
    const google = await googleError(await fetch(`${spool.url}/v1beta/files/%ZZ`), 400);
    expect(google).toMatchObject({ status: "INVALID_ARGUMENT", message: expect.stringContaining("percent-encoded UTF-8") });
    await googleError(await fetch(`${spool.url}/upload/v1beta/files/%E2%82`, { method: "POST" }), 400);
  });

  it("looks up ids of any length instead of refusing them as Fastify's 100-character params", async () => {
    const id = "x".repeat(2_000);
    expect(await openAIError(await fetch(`${spool.url}/v1/batches/${id}`), 404)).toMatchObject({ param: "batch_id", message: expect.stringContaining(id) });
    expect(await googleError(await fetch(`${spool.url}/v1beta/batches/${id}`), 404)).toMatchObject({ status: "NOT_FOUND" });
  });

  it("answers a 100 KB URL with 414 and 20 KB of headers with 431, each in its dialect's envelope", async () => {
    const query = `?x=${"a".repeat(100_000)}`;
    expect(await openAIError(await fetch(`${spool.url}/v1/files${query}`), 414)).toMatchObject({ code: "uri_too_long" });
    expect(await googleError(await fetch(`${spool.url}/v1beta/files${query}`), 414)).toMatchObject({ status: "INVALID_ARGUMENT" });
    const headers = { "x-padding": "p".repeat(20_000) };
    expect(await openAIError(await fetch(`${spool.url}/v1/files`, { headers }), 431)).toMatchObject({ code: "headers_too_large" });
    expect((await fetch(`${spool.url}/health`)).status).toBe(200);
  });

  it("answers bytes that are not HTTP with a 400 envelope, then closes the connection", async () => {
    const reply = await rawExchange("HELLO THERE\r\n\r\n");
    expect(reply).toMatch(/^HTTP\/1\.1 400 Bad Request\r\n/);
    expect(reply).toMatch(/\r\nconnection: close\r\n/i);
    const body = JSON.parse(reply.slice(reply.indexOf("\r\n\r\n") + 4)) as Envelope;
    expect(body.error).toMatchObject({ code: "malformed_http", type: "invalid_request_error" });
  });

  it("answers unknown routes and wrong methods in the envelope of the path's dialect", async () => {
    expect(await openAIError(await fetch(`${spool.url}/v1/files`, { method: "PUT" }), 404)).toMatchObject({ code: "not_found" });
    expect(await openAIError(await fetch(`${spool.url}/nowhere`), 404)).toMatchObject({ code: "not_found" });
    expect(await googleError(await fetch(`${spool.url}/v1beta/files`, { method: "PUT" }), 404)).toMatchObject({ status: "NOT_FOUND" });
    expect(await googleError(await fetch(`${spool.url}/v1beta/models/gpt-test:explode`, { method: "POST" }), 404)).toMatchObject({ status: "NOT_FOUND" });
  });
});

const nested = (levels: number): string => `${"[".repeat(levels)}${"]".repeat(levels)}`;

describe("JSON nesting limit", () => {
  const post = (route: string, body: string): Promise<Response> => fetch(`${spool.url}${route}`, { method: "POST", headers: { "content-type": "application/json" }, body });

  it("refuses a sync chat nested 100,000 levels deep with a 400 naming the field, and never calls the engine", async () => {
    upstream.resetCounts();
    // As deep as the SDK itself can serialize; the raw request below goes deeper.
    const deep = JSON.parse(nested(1_000)) as unknown;
    const error = await openai.chat.completions.create({ model: "gpt-test", messages: [{ role: "user", content: "hi" }], metadata: deep } as never).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(OpenAI.BadRequestError);
    expect(error).toMatchObject({ param: "metadata[0][0][0][0][0][0][0]", message: expect.stringContaining("deeper than 128 levels at metadata[0]") });
    const huge = await openAIError(await post("/v1/chat/completions", `{"model":"gpt-test","messages":[{"role":"user","content":${nested(100_000)}}]}`), 400);
    expect(huge.param).toBe("messages[0].content[0][0][0][0][0]");
    expect(upstream.requests).toBe(0);
  });

  it("passes a body nested 100 levels deep through to the engine", async () => {
    const reply = await openai.chat.completions.create({ model: "gpt-test", messages: [{ role: "user", content: "deep but fine" }], metadata: JSON.parse(nested(100)) } as never);
    expect(reply.choices[0]?.message.content).toBe("echo: deep but fine");
  });

  it("refuses deep JSON on the Gemini routes (sync, inline batch) and an OpenAI batch create, in each dialect's envelope", async () => {
    const schema = `{"type":"object","properties":{"a":${"{\"type\":\"array\",\"items\":".repeat(150)}{"type":"string"}${"}".repeat(150)}}}`;
    const generate = `{"contents":[{"parts":[{"text":"x"}]}],"generationConfig":{"responseMimeType":"application/json","responseJsonSchema":${schema}}}`;
    const sync = await googleError(await post("/v1beta/models/gpt-test:generateContent", generate), 400);
    expect(sync.details).toEqual([{ "@type": "type.googleapis.com/google.rpc.BadRequest", fieldViolations: [{ field: "generationConfig.responseJsonSchema.properties.a.items.items.items.items", description: expect.any(String) }] }]);
    const inline = `{"batch":{"inputConfig":{"requests":{"requests":[{"request":${generate}}]}}}}`;
    const batch = await googleError(await post("/v1beta/models/gpt-test:batchGenerateContent", inline), 400);
    expect(batch.message).toContain("at batch.inputConfig.requests.requests[0].request.generationConfig");
    const create = await openAIError(await post("/v1/batches", `{"input_file_id":"file-x","endpoint":"/v1/chat/completions","completion_window":"24h","metadata":${nested(500)}}`), 400);
    expect(create.param).toBe("metadata[0][0][0][0][0][0][0]");
    expect(upstream.requests).toBe(1);
  });
});

describe("page cursors", () => {
  it("refuses an OpenAI 'after' that is not an id of the list, including a file deleted since, naming the parameter", async () => {
    const kept = await openai.files.create({ file: new File(["a"], "a.txt"), purpose: "evals" });
    const gone = await openai.files.create({ file: new File(["b"], "b.txt"), purpose: "evals" });
    await openai.files.delete(gone.id);
    for (const after of ["nope", gone.id]) {
      await expect(openai.files.list({ after })).rejects.toMatchObject({ status: 400, param: "after", message: expect.stringContaining(JSON.stringify(after)) });
    }
    expect((await openai.files.list({ after: kept.id, purpose: "evals" })).data).toEqual([]);
    await expect(openai.batches.list({ after: "batch_nope" })).rejects.toMatchObject({ status: 400, param: "after" });
  });

  it("refuses an unknown Gemini pageToken naming it, and keeps paging past a batch deleted after its page was read", async () => {
    const error = await ai.files.list({ config: { pageToken: "garbage" } }).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(ApiError);
    expect((error as ApiError).status).toBe(400);
    expect((error as ApiError).message).toContain("pageToken");
    await googleError(await fetch(`${spool.url}/v1beta/batches?pageToken=batch_nope`), 400);

    const names: string[] = [];
    for (let i = 0; i < 3; i += 1) {
      const job = await ai.batches.create({ model: "gpt-test", src: [{ contents: `page ${i}` }] });
      names.push(job.name ?? "");
    }
    const first = (await (await fetch(`${spool.url}/v1beta/batches?pageSize=1`)).json()) as { operations: { name: string }[]; nextPageToken: string };
    expect(first.operations.map((operation) => operation.name)).toEqual([names[2]]);
    await ai.batches.delete({ name: names[2] ?? "" });
    const second = (await (await fetch(`${spool.url}/v1beta/batches?pageSize=1&pageToken=${first.nextPageToken}`)).json()) as { operations: { name: string }[] };
    expect(second.operations.map((operation) => operation.name)).toEqual([names[1]]);
  });
});

describe("non-ASCII upload names", () => {
  const name = "😀-données.jsonl";

  it("keeps an OpenAI multipart file name as sent by the SDK", async () => {
    const file = await openai.files.create({ file: new File(["{}\n"], name), purpose: "batch" });
    expect(file.filename).toBe(name);
    expect((await openai.files.retrieve(file.id)).filename).toBe(name);
    expect((await openai.files.list({ purpose: "batch" })).data.find((each) => each.id === file.id)?.filename).toBe(name);
  });

  it("keeps Gemini display names and file names as sent: SDK displayName, SDK file path, raw UTF-8 header", async () => {
    const byDisplayName = await ai.files.upload({ file: new Blob(["{}\n"]), config: { mimeType: "application/jsonl", displayName: name } });
    expect((await ai.files.get({ name: byDisplayName.name ?? "" })).displayName).toBe(name);
    // fetch can only send latin1 in headers, so the SDK can send this name from a path, not the emoji one.
    const latin1Name = "données-été.jsonl";
    const source = path.join(spool.dataDir, latin1Name);
    writeFileSync(source, "{}\n");
    expect((await ai.files.upload({ file: source, config: { mimeType: "application/jsonl" } })).displayName).toBe(latin1Name);
    const raw = await fetch(`${spool.url}/upload/v1beta/files`, {
      method: "POST",
      headers: { "x-goog-upload-file-name": Buffer.from(name, "utf8").toString("latin1"), "content-type": "application/jsonl" },
      body: "{}\n",
    });
    expect(((await raw.json()) as { file: { displayName: string } }).file.displayName).toBe(name);
    const multipart = await fetch(`${spool.url}/upload/v1beta/files`, {
      method: "POST",
      headers: { "x-goog-upload-protocol": "multipart", "content-type": "multipart/related; boundary=B" },
      body: `--B\r\nContent-Type: application/json; charset=UTF-8\r\n\r\n${JSON.stringify({ file: { displayName: name } })}\r\n--B\r\nContent-Type: application/jsonl\r\n\r\n{}\n\r\n--B--\r\n`,
    });
    expect(((await multipart.json()) as { file: { displayName: string } }).file.displayName).toBe(name);
  });
});

describe("shutdown", () => {
  it("answers requests that arrive while the server drains with a 503 in the path's dialect", async () => {
    const slow = await startFakeOpenAIUpstream();
    slow.setFault(() => ({ delayMs: 1_000 }));
    const draining = await startTestApp({ models: [{ name: "gpt-test", engine: "openai", baseUrl: slow.url, maxRetries: 0 }] }, { label: "http-edge-drain", workers: false });
    try {
      const { port } = new URL(draining.url);
      const socket = connect(Number(port), "127.0.0.1");
      await new Promise<void>((resolve) => socket.once("connect", () => resolve()));
      let received = "";
      socket.on("data", (chunk) => (received += chunk.toString("utf8")));
      const closed = new Promise<void>((resolve) => socket.on("close", () => resolve()));
      const body = chatBodyText("in flight");
      socket.write(`POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n${body}`);
      await waitFor(() => slow.inFlight > 0, { what: "the first request to reach the engine" });
      const stopped = draining.stop();
      // Pipelined behind the request in flight: it arrives after the drain began.
      socket.write("GET /v1beta/files HTTP/1.1\r\nHost: x\r\n\r\n");
      await Promise.all([stopped, closed]);
      const statuses = [...received.matchAll(/HTTP\/1\.1 (\d+)/g)].map((match) => match[1]);
      expect(statuses).toEqual(["200", "503"]);
      expect(received).toContain('{"error":{"code":503,"message":"The server is shutting down; retry the request.","status":"UNAVAILABLE","details":[]}}');
    } finally {
      await slow.close();
    }
  });
});

function chatBodyText(content: string): string {
  return JSON.stringify({ model: "gpt-test", messages: [{ role: "user", content }] });
}
