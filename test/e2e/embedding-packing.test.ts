/**
 * Embedding packing end to end: real spool (SQLite, Workers, Dispatcher, real engines) with the real
 * `openai` and `@google/genai` SDKs as clients, single-input embedding Items packed into `input: [...]`
 * calls to the fake OpenAI upstream, and every result line still the Item's own.
 */
import { GoogleGenAI } from "@google/genai";
import OpenAI, { toFile } from "openai";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { embeddingOf, startFakeOpenAIUpstream, type FakeOpenAIUpstream } from "../helpers/fake-openai-upstream.ts";
import { startTestApp, type TestApp } from "../helpers/spool-app.ts";
import { waitFor } from "../helpers/wait-for.ts";

const MAX_ITEMS = 64;

let upstream: FakeOpenAIUpstream;
let spool: TestApp;
let client: OpenAI;

beforeAll(async () => {
  upstream = await startFakeOpenAIUpstream({ record: true, rejectInput: (text) => text.startsWith("BAD") });
  spool = await startTestApp(
    {
      models: [{ name: "embed-packed", engine: "openai", baseUrl: upstream.url, concurrency: 8, maxRetries: 2, embeddingPack: { maxItems: MAX_ITEMS } }],
      worker: { leaseMs: 5_000, sweepMs: 50, pollMs: 50 },
    },
    { label: "embedding-packing" },
  );
  client = new OpenAI({ apiKey: "sk-test", baseURL: spool.openaiBaseUrl, maxRetries: 0 });
});

afterAll(async () => {
  await spool?.stop();
  await upstream?.close();
});

beforeEach(() => upstream.resetCounts());

type ResultLine = {
  custom_id: string;
  response: { status_code: number; body: { data?: { index: number; embedding: number[] }[]; usage?: { prompt_tokens: number }; error?: { param: string | null } } } | null;
  error: unknown;
};

function embeddingLine(customId: string, input: string): string {
  return JSON.stringify({ custom_id: customId, method: "POST", url: "/v1/embeddings", body: { model: "embed-packed", input } });
}

async function runEmbeddingBatch(lines: string[]) {
  const file = await client.files.create({ file: await toFile(Buffer.from(`${lines.join("\n")}\n`), "embeddings.jsonl"), purpose: "batch" });
  const created = await client.batches.create({ input_file_id: file.id, endpoint: "/v1/embeddings", completion_window: "24h" });
  return waitFor(async () => {
    const batch = await client.batches.retrieve(created.id);
    return ["completed", "failed", "expired", "cancelled"].includes(batch.status) ? batch : undefined;
  }, { what: `batch ${created.id} to finish` });
}

async function resultLines(fileId: string | null | undefined): Promise<ResultLine[]> {
  if (!fileId) return [];
  const text = await (await client.files.content(fileId)).text();
  return text.trim().split("\n").map((line) => JSON.parse(line) as ResultLine);
}

describe("embedding packing through spool", () => {
  it("runs a 200-Item embedding batch in at most ceil(200 / maxItems) upstream calls, each line with its own vector", async () => {
    const texts = Array.from({ length: 200 }, (_, i) => `document ${i}: ${"words ".repeat(i % 9)}`);
    const done = await runEmbeddingBatch(texts.map((text, i) => embeddingLine(`e-${i}`, text)));
    expect(done.status).toBe("completed");
    expect(done.request_counts).toEqual({ total: 200, completed: 200, failed: 0 });
    expect(upstream.requests).toBeLessThanOrEqual(Math.ceil(200 / MAX_ITEMS));
    expect(upstream.received.every((request) => Array.isArray(request.body.input))).toBe(true);
    const lines = await resultLines(done.output_file_id);
    expect(lines.map((line) => line.custom_id)).toEqual(texts.map((_, i) => `e-${i}`));
    lines.forEach((line, i) => {
      expect(line.response?.status_code).toBe(200);
      expect(line.response?.body.data).toEqual([{ object: "embedding", index: 0, embedding: embeddingOf(texts[i]!, 8) }]);
      expect(line.response?.body.usage?.prompt_tokens).toBe(Math.ceil(texts[i]!.length / 4));
    });
  });

  it("fails only the Item whose input the upstream refuses inside a packed call", async () => {
    const texts = Array.from({ length: 10 }, (_, i) => (i === 3 ? "BAD input" : `fine ${i}`));
    const done = await runEmbeddingBatch(texts.map((text, i) => embeddingLine(`b-${i}`, text)));
    expect(done.status).toBe("completed");
    expect(done.request_counts).toEqual({ total: 10, completed: 9, failed: 1 });
    const errors = await resultLines(done.error_file_id);
    expect(errors.map((line) => line.custom_id)).toEqual(["b-3"]);
    expect(errors[0]?.response).toMatchObject({ status_code: 400, body: { error: { param: "input" } } });
    const output = await resultLines(done.output_file_id);
    expect(output.map((line) => line.custom_id)).toEqual(["b-0", "b-1", "b-2", "b-4", "b-5", "b-6", "b-7", "b-8", "b-9"]);
    for (const line of output) expect(line.response?.body.data?.[0]?.embedding).toEqual(embeddingOf(texts[Number(line.custom_id.slice(2))]!, 8));
    // The packed call named input[3]; spool then ran each Item alone.
    expect(upstream.received[0]?.body.input).toEqual(texts);
    expect(upstream.requests).toBe(1 + texts.length);
  });

  it("packs a Gemini embedding batch on an openai Model and fits each vector to outputDimensionality", async () => {
    const ai = new GoogleGenAI({ apiKey: "g-test", httpOptions: { baseUrl: spool.url } });
    const texts = Array.from({ length: 30 }, (_, i) => `gemini text ${i}`);
    const created = await ai.batches.createEmbeddings({ model: "embed-packed", src: { inlinedRequests: { contents: texts, config: { outputDimensionality: 4 } } } });
    const done = await waitFor(async () => {
      const job = await ai.batches.get({ name: created.name ?? "" });
      return job.state === "JOB_STATE_SUCCEEDED" || job.state === "JOB_STATE_FAILED" ? job : undefined;
    }, { what: "the gemini embedding batch to finish" });
    expect(done.state).toBe("JOB_STATE_SUCCEEDED");
    expect(upstream.requests).toBe(1);
    expect(upstream.received[0]?.body).toMatchObject({ input: texts, dimensions: 4 });
    const vectors = (done.dest?.inlinedEmbedContentResponses ?? []).map((each) => each.response?.embedding?.values);
    expect(vectors).toEqual(texts.map((text) => embeddingOf(text, 4)));
  });

  it("returns the Items of packs cut short by a stop, and the next run records each exactly once", async () => {
    let open = (): void => undefined;
    const held = new Promise<void>((resolve) => (open = resolve));
    upstream.setFault(() => ({ until: held }));
    const config = {
      models: [{ name: "embed-packed", engine: "openai" as const, baseUrl: upstream.url, concurrency: 2, embeddingPack: { maxItems: 8 } }],
      worker: { leaseMs: 5_000, sweepMs: 50, pollMs: 50, shutdownGraceMs: 0 },
    };
    const first = await startTestApp(config, { label: "embedding-packing-stop" });
    let second: TestApp | null = null;
    try {
      const firstClient = new OpenAI({ apiKey: "sk-test", baseURL: first.openaiBaseUrl, maxRetries: 0 });
      const texts = Array.from({ length: 40 }, (_, i) => `stopped ${i}`);
      const file = await firstClient.files.create({ file: await toFile(Buffer.from(texts.map((text, i) => embeddingLine(`s-${i}`, text)).join("\n")), "stop.jsonl"), purpose: "batch" });
      const batch = await firstClient.batches.create({ input_file_id: file.id, endpoint: "/v1/embeddings", completion_window: "24h" });
      await waitFor(() => upstream.inFlight === 2, { what: "two packs held at the upstream" });
      await first.stop();
      open();
      upstream.setFault(null);
      second = await startTestApp(config, { dataDir: first.dataDir });
      const secondClient = new OpenAI({ apiKey: "sk-test", baseURL: second.openaiBaseUrl, maxRetries: 0 });
      const done = await waitFor(async () => {
        const current = await secondClient.batches.retrieve(batch.id);
        return current.status === "completed" ? current : undefined;
      }, { what: "the batch to complete on the second run" });
      expect(done.request_counts).toEqual({ total: 40, completed: 40, failed: 0 });
      const text = await (await secondClient.files.content(done.output_file_id ?? "")).text();
      const lines = text.trim().split("\n").map((line) => JSON.parse(line) as ResultLine);
      expect(lines.map((line) => line.custom_id)).toEqual(texts.map((_, i) => `s-${i}`));
      lines.forEach((line, i) => expect(line.response?.body.data?.[0]?.embedding).toEqual(embeddingOf(texts[i]!, 8)));
    } finally {
      open();
      upstream.setFault(null);
      await second?.stop();
    }
  });

  it("never packs sync /v1/embeddings requests", async () => {
    const reply = await client.embeddings.create({ model: "embed-packed", input: "sync text", encoding_format: "float" });
    expect(reply.data[0]?.embedding).toEqual(embeddingOf("sync text", 8));
    expect(upstream.received.map((request) => request.body.input)).toEqual(["sync text"]);
  });
});
