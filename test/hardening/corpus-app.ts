/**
 * The spool the hostile-input corpus runs against (both dialects, Workers, SQLite, an in-process OpenAI
 * upstream), small limits so oversized inputs stay cheap, and the helpers the cases share: sending a
 * request (through fetch or as raw bytes), checking a reply against its dialect's envelope, and running a
 * batch file to its end in either dialect.
 */
import { connect } from "node:net";
import { expect } from "vitest";
import { startFakeOpenAIUpstream, type FakeOpenAIUpstream } from "../helpers/fake-openai-upstream.ts";
import { startTestApp, type TestApp } from "../helpers/spool-app.ts";
import { waitFor } from "../helpers/wait-for.ts";

export const LIMITS = { maxUploadBytes: 256 * 1024, maxGeminiUploadBytes: 256 * 1024, maxLineBytes: 16 * 1024, maxBatchItems: 100 };

export interface CorpusApp {
  spool: TestApp;
  upstream: FakeOpenAIUpstream;
  url: string;
  stop(): Promise<void>;
}

export async function startCorpusApp(): Promise<CorpusApp> {
  const upstream = await startFakeOpenAIUpstream();
  const engine = { engine: "openai" as const, baseUrl: upstream.url, maxRetries: 0 };
  const spool = await startTestApp(
    {
      models: [
        { name: "gpt-test", ...engine },
        { name: "gpt-other", ...engine },
        { name: "chat-only", ...engine, kinds: ["chat"] },
        { name: "embed-test", ...engine, kinds: ["embedding"] },
      ],
      limits: LIMITS,
      worker: { pollMs: 50, sweepMs: 50, leaseMs: 5_000 },
      server: { bodyIdleTimeoutMs: 1_000 },
    },
    { label: "hostile-inputs" },
  );
  return {
    spool,
    upstream,
    url: spool.url,
    async stop() {
      await spool.stop();
      await upstream.close();
    },
  };
}

export type Dialect = "openai" | "google" | "anthropic";

/** What a case sends: a request through fetch, or bytes written as they are to a fresh connection. */
export type Sent =
  | { method?: string; path: string; headers?: Record<string, string>; body?: string | Uint8Array<ArrayBuffer> }
  | { raw: string | Buffer; /** Half-close after writing (a truncated request). */ end?: boolean };

export interface Received {
  status: number;
  body: unknown;
}

export async function send(url: string, sent: Sent): Promise<Received | null> {
  if ("raw" in sent) return sendRaw(url, sent.raw, sent.end ?? false);
  const response = await fetch(`${url}${sent.path}`, { method: sent.method ?? "GET", headers: sent.headers, body: sent.body });
  const text = await response.text();
  let body: unknown = text;
  try {
    body = JSON.parse(text);
  } catch {
    // Left as text: the envelope check reports it.
  }
  return { status: response.status, body };
}

/** Writes bytes, then resolves with the parsed reply once the server closes (or null if it sent none). */
function sendRaw(url: string, bytes: string | Buffer, end: boolean): Promise<Received | null> {
  const { port } = new URL(url);
  return new Promise((resolve, reject) => {
    const socket = connect(Number(port), "127.0.0.1", () => {
      socket.write(bytes);
      if (end) socket.end();
    });
    const chunks: Buffer[] = [];
    socket.on("data", (chunk) => chunks.push(chunk));
    socket.on("error", reject);
    socket.on("close", () => {
      const text = Buffer.concat(chunks).toString("utf8");
      if (text === "") {
        resolve(null);
        return;
      }
      const status = Number(/^HTTP\/1\.1 (\d+)/.exec(text)?.[1] ?? 0);
      const bodyText = text.slice(text.indexOf("\r\n\r\n") + 4);
      let body: unknown = bodyText;
      try {
        body = JSON.parse(bodyText);
      } catch {
        // A chunked or non-JSON body stays text; the envelope check reports it.
      }
      resolve({ status, body });
    });
  });
}

export interface ExpectedError {
  status: number;
  /** OpenAI `error.code`, Google `error.status` or Anthropic `error.type`. */
  code?: string;
  /** OpenAI `error.param`, the first Google field violation, or what leads Anthropic's message (`param: ...`). */
  param?: string | null;
  message?: string | RegExp;
}

/** Asserts `received` is `expected` in `dialect`'s error envelope, every field of it. */
export function expectEnvelope(received: Received | null, dialect: Dialect, expected: ExpectedError): void {
  expect(received, "a reply").not.toBeNull();
  const { status, body } = received as Received;
  expect({ status, body }).toMatchObject({ status: expected.status });
  if (dialect === "anthropic") {
    expectAnthropicEnvelope(body, expected);
    return;
  }
  const error = (body as { error?: Record<string, unknown> }).error;
  expect(error, `an error envelope, got ${JSON.stringify(body)}`).toBeTypeOf("object");
  const fields = error as Record<string, unknown>;
  if (dialect === "openai") {
    expect(Object.keys(fields).sort()).toEqual(["code", "message", "param", "type"]);
    expect(fields.type).toBe(expected.status >= 500 ? "server_error" : expected.status === 401 ? "authentication_error" : "invalid_request_error");
    if (expected.code !== undefined) expect(fields.code).toBe(expected.code);
    if (expected.param !== undefined) expect(fields.param).toBe(expected.param);
  } else {
    expect(fields).toMatchObject({ code: expected.status, status: expect.stringMatching(/^[A-Z_]+$/), details: expect.any(Array) });
    expect(fields).not.toHaveProperty("type");
    if (expected.code !== undefined) expect(fields.status).toBe(expected.code);
    if (expected.param !== undefined) {
      const violations = ((fields.details as { fieldViolations?: { field: string }[] }[])[0]?.fieldViolations ?? []).map((violation) => violation.field);
      expect(violations[0] ?? null).toBe(expected.param);
    }
  }
  expect(fields.message).toBeTypeOf("string");
  if (expected.message !== undefined) expect(fields.message).toMatch(expected.message);
  // Nothing internal leaks into a client error.
  expect(fields.message).not.toMatch(/\bat .*\.ts:\d+|RangeError|TypeError|FST_ERR/);
}

/** Anthropic's `{type: "error", error: {type, message}, request_id}`: no param field, the path leads the message. */
function expectAnthropicEnvelope(body: unknown, expected: ExpectedError): void {
  expect(body, `an Anthropic error envelope, got ${JSON.stringify(body)}`).toMatchObject({ type: "error", error: { type: expect.stringMatching(/_error$|^request_too_large$/), message: expect.any(String) }, request_id: expect.stringMatching(/^req_/) });
  const error = (body as { error: { type: string; message: string } }).error;
  expect(Object.keys(error).sort()).toEqual(["message", "type"]);
  if (expected.code !== undefined) expect(error.type).toBe(expected.code);
  if (expected.param) expect(error.message.startsWith(`${expected.param}: `), error.message).toBe(true);
  if (expected.message !== undefined) expect(error.message).toMatch(expected.message);
  expect(error.message).not.toMatch(/\bat .*\.ts:\d+|RangeError|TypeError|FST_ERR/);
}

export async function expectAlive(url: string): Promise<void> {
  const health = await fetch(`${url}/health`);
  expect(health.status).toBe(200);
}

/** Uploads `content` and runs an OpenAI batch over it to a final status. */
/** Uploads `content` as a batch input file; the raw answer (the file, or the upload's refusal). */
export async function uploadBatchFile(url: string, content: string | Buffer): Promise<Response> {
  const form = new FormData();
  form.append("purpose", "batch");
  form.append("file", new Blob([new Uint8Array(typeof content === "string" ? Buffer.from(content) : content)]), "corpus.jsonl");
  return fetch(`${url}/v1/files`, { method: "POST", body: form });
}

export async function runOpenAIBatch(url: string, content: string | Buffer, endpoint = "/v1/chat/completions"): Promise<OpenAIBatch> {
  const upload = await uploadBatchFile(url, content);
  expect(upload.status).toBe(200);
  const fileId = ((await upload.json()) as { id: string }).id;
  const created = await fetch(`${url}/v1/batches`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ input_file_id: fileId, endpoint, completion_window: "24h" }),
  });
  expect(created.status).toBe(200);
  const id = ((await created.json()) as { id: string }).id;
  return waitFor(
    async () => {
      const batch = (await (await fetch(`${url}/v1/batches/${id}`)).json()) as OpenAIBatch;
      return ["completed", "failed", "expired", "cancelled"].includes(batch.status) ? batch : undefined;
    },
    { what: `batch ${id} to end`, timeoutMs: 20_000 },
  );
}

export interface OpenAIBatch {
  id: string;
  status: string;
  output_file_id: string | null;
  error_file_id: string | null;
  errors: { data: { code: string; param: string | null; line: number | null; message: string }[] } | null;
}

export async function fileText(url: string, id: string | null): Promise<string> {
  if (id === null) return "";
  return (await fetch(`${url}/v1/files/${id}/content`)).text();
}

/** Uploads `content` through the Gemini upload path and runs a file batch over it to a final state. */
export async function runGeminiBatch(url: string, content: string | Buffer, model: string, verb = "batchGenerateContent"): Promise<GeminiOutcome> {
  const upload = await fetch(`${url}/upload/v1beta/files`, {
    method: "POST",
    headers: { "content-type": "application/jsonl" },
    body: new Uint8Array(typeof content === "string" ? Buffer.from(content) : content),
  });
  expect(upload.status).toBe(200);
  const fileName = ((await upload.json()) as { file: { name: string } }).file.name;
  const created = await fetch(`${url}/v1beta/models/${model}:${verb}`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ batch: { displayName: "corpus", inputConfig: { fileName } } }),
  });
  expect(created.status).toBe(200);
  const name = ((await created.json()) as { name: string }).name;
  const operation = await waitFor(
    async () => {
      const current = (await (await fetch(`${url}/v1beta/${name}`)).json()) as GeminiOperation;
      return current.done ? current : undefined;
    },
    { what: `${name} to end`, timeoutMs: 20_000 },
  );
  const responsesFile = operation.response?.responsesFile ?? null;
  const lines = responsesFile === null ? [] : (await (await fetch(`${url}/download/v1beta/${responsesFile}:download?alt=media`)).text()).split("\n").filter(Boolean);
  return { operation, results: lines.map((line) => JSON.parse(line) as GeminiResult) };
}

export interface GeminiOperation {
  name: string;
  done: boolean;
  metadata: { state: string };
  response?: { responsesFile?: string };
  error?: { code: number; message: string };
}

export interface GeminiResult {
  key?: string;
  response?: unknown;
  error?: { code: number; message: string; details: { fieldViolations?: { field: string; description: string }[] }[] };
}

export interface GeminiOutcome {
  operation: GeminiOperation;
  results: GeminiResult[];
}
