/**
 * A NUL in what a client sends, through the whole system and on both Stores (issue 9, item 2). On
 * PostgreSQL a valid line whose `custom_id` held U+0000 made every validation attempt fail, so the Batch
 * stayed `validating` forever; the same NUL in an id in a URL path or in a Gemini display name answered 500.
 * Decision 0006: spool round-trips such strings (the PostgreSQL Store escapes them), so both Stores answer
 * exactly alike: the Batch runs and its results carry the custom_id as sent, and lookups of an id with a
 * NUL answer 404 in the dialect's shape.
 */
import OpenAI, { toFile } from "openai";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { chatLine } from "../helpers/batch-files.ts";
import { startFakeOpenAIUpstream, type FakeOpenAIUpstream } from "../helpers/fake-openai-upstream.ts";
import { captureLog } from "../helpers/log-capture.ts";
import { freshTestSchema, TEST_DATABASE_URL } from "../helpers/postgres.ts";
import { startTestApp, type TestApp } from "../helpers/spool-app.ts";
import { storeBackends } from "../helpers/store-backends.ts";
import { waitFor } from "../helpers/wait-for.ts";

let upstream: FakeOpenAIUpstream;
beforeAll(async () => {
  upstream = await startFakeOpenAIUpstream();
});
afterAll(async () => {
  await upstream?.close();
});

describe.each(storeBackends)("odd bytes through the API ($name store)", (backend) => {
  const log = captureLog();
  let spool: TestApp;
  let openai: OpenAI;

  beforeAll(async () => {
    const databaseUrl = backend.name === "postgres" ? `${TEST_DATABASE_URL}?schema=${await freshTestSchema("odd bytes api")}` : undefined;
    spool = await startTestApp(
      { databaseUrl, models: [{ name: "gpt-test", engine: "openai", baseUrl: upstream.url, concurrency: 4, maxRetries: 0 }], worker: { leaseMs: 5_000, sweepMs: 50, pollMs: 50, shutdownGraceMs: 100 } },
      { label: `odd-bytes-${backend.name}`, logger: log.logger },
    );
    openai = new OpenAI({ apiKey: "sk-test", baseURL: spool.openaiBaseUrl, maxRetries: 0 });
  });
  afterAll(async () => {
    await spool?.stop();
  });

  async function gemini(method: string, pathAndQuery: string, body?: unknown): Promise<{ status: number; body: Record<string, unknown> }> {
    const response = await fetch(`${spool.url}${pathAndQuery}`, {
      method,
      headers: { "x-goog-api-key": "g-test", "content-type": "application/json" },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    return { status: response.status, body: (await response.json()) as Record<string, unknown> };
  }

  it("runs a batch whose custom_id holds a NUL and returns it as sent", async () => {
    const ids = ["plain", "nul\u0000inside", "\uffff0-looks-escaped"];
    const file = await openai.files.create({ file: await toFile(Buffer.from(`${ids.map((id, i) => chatLine(id, `text ${i}`)).join("\n")}\n`), "odd\uffffname.jsonl"), purpose: "batch" });
    const created = await openai.batches.create({ input_file_id: file.id, endpoint: "/v1/chat/completions", completion_window: "24h", metadata: { note: "a\u0000b" } });
    const done = await waitFor(async () => {
      const batch = await openai.batches.retrieve(created.id);
      return ["completed", "failed"].includes(batch.status) ? batch : undefined;
    }, { what: "the batch to finish" });
    expect(done).toMatchObject({ status: "completed", request_counts: { total: 3, completed: 3, failed: 0 }, metadata: { note: "a\u0000b" } });
    const lines = (await (await openai.files.content(done.output_file_id ?? "")).text()).trim().split("\n").map((line) => JSON.parse(line) as { custom_id: string });
    expect(lines.map((line) => line.custom_id)).toEqual(ids);
    expect(log.errors()).toEqual([]);
  });

  it("answers 404 in the dialect's shape for ids with a NUL in the URL path", async () => {
    for (const url of [`${spool.openaiBaseUrl}/files/file-%00abc`, `${spool.openaiBaseUrl}/batches/batch_%00`, `${spool.openaiBaseUrl}/files/file-%00abc/content`]) {
      const response = await fetch(url, { headers: { authorization: "Bearer sk-test" } });
      expect(response.status, url).toBe(404);
      expect(await response.json()).toMatchObject({ error: { type: "invalid_request_error", code: "not_found", message: expect.any(String) } });
    }
    const retrieved = await openai.files.retrieve("file-\u0000abc").catch((error: unknown) => error);
    expect(retrieved).toBeInstanceOf(OpenAI.NotFoundError);
    for (const path of ["/v1beta/files/abc%00", "/v1beta/batches/abc%00"]) {
      const { status, body } = await gemini("GET", path);
      expect(status, path).toBe(404);
      expect(body).toMatchObject({ error: { code: 404, status: "NOT_FOUND" } });
    }
    expect(log.errors()).toEqual([]);
  });

  it("keeps a Gemini display name with a NUL, as Google does", async () => {
    const started = await gemini("POST", "/v1beta/models/gpt-test:batchGenerateContent", {
      batch: { displayName: "nightly\u0000run", inputConfig: { requests: { requests: [{ request: { contents: [{ role: "user", parts: [{ text: "hi" }] }] } }] } } },
    });
    expect(started.status).toBe(200);
    const name = String(started.body.name).replace(/^batches\//, "");
    const fetched = await gemini("GET", `/v1beta/batches/${name}`);
    expect(fetched.status).toBe(200);
    expect(fetched.body).toMatchObject({ metadata: { displayName: "nightly\u0000run" } });
    expect(log.errors()).toEqual([]);
  });
});
