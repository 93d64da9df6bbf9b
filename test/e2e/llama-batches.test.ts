/**
 * Real local inference through the whole pipeline: OpenAI and Gemini batches, generation and embeddings,
 * served by the llama-cpp engine on the generated tiny model (random weights: assert structure, counts,
 * dimensions and determinism, not text).
 */
import { GoogleGenAI } from "@google/genai";
import OpenAI, { toFile } from "openai";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ensureTinyModel } from "../helpers/test-model.ts";
import { startTestApp, type TestApp } from "../helpers/spool-app.ts";
import { waitFor } from "../helpers/wait-for.ts";
import { scrapeMetrics } from "../helpers/prometheus.ts";

let spool: TestApp;
let openai: OpenAI;
let ai: GoogleGenAI;

beforeAll(async () => {
  const modelPath = await ensureTinyModel();
  spool = await startTestApp(
    { models: [{ name: "tiny", engine: "llama-cpp", path: modelPath, threads: 1, sequences: 4, concurrency: 4, embeddings: true }], worker: { sweepMs: 100 } },
    { label: "llama-batches" },
  );
  openai = new OpenAI({ apiKey: "k", baseURL: spool.openaiBaseUrl, maxRetries: 0 });
  ai = new GoogleGenAI({ apiKey: "k", httpOptions: { baseUrl: spool.url } });
}, 120_000);

afterAll(async () => {
  await spool?.stop();
});

async function openaiBatch(lines: object[], endpoint: "/v1/chat/completions" | "/v1/embeddings") {
  const file = await openai.files.create({ file: await toFile(Buffer.from(lines.map((line) => JSON.stringify(line)).join("\n")), "in.jsonl"), purpose: "batch" });
  const batch = await openai.batches.create({ input_file_id: file.id, endpoint, completion_window: "24h" });
  const done = await waitFor(async () => {
    const current = await openai.batches.retrieve(batch.id);
    return ["completed", "failed"].includes(current.status) ? current : undefined;
  }, { timeoutMs: 60_000 });
  expect(done.status).toBe("completed");
  const text = await (await openai.files.content(done.output_file_id ?? "")).text();
  return text.trim().split("\n").map((line) => JSON.parse(line) as { custom_id: string; response: { status_code: number; body: Record<string, unknown> } });
}

async function geminiJob(create: () => Promise<{ name?: string }>) {
  const created = await create();
  return waitFor(async () => {
    const job = await ai.batches.get({ name: created.name ?? "" });
    return job.state === "JOB_STATE_SUCCEEDED" || job.state === "JOB_STATE_FAILED" ? job : undefined;
  }, { timeoutMs: 60_000 });
}

describe("batches on the llama-cpp engine", () => {
  it("runs an OpenAI chat batch with token usage", async () => {
    const lines = Array.from({ length: 6 }, (_, i) => ({ custom_id: `c-${i}`, method: "POST", url: "/v1/chat/completions", body: { model: "tiny", messages: [{ role: "user", content: `hi ${i}` }], max_tokens: 6, seed: i } }));
    const output = await openaiBatch(lines, "/v1/chat/completions");
    expect(output.map((line) => line.custom_id)).toEqual(lines.map((line) => line.custom_id));
    for (const line of output) {
      const usage = line.response.body.usage as { prompt_tokens: number; completion_tokens: number };
      expect(line.response.status_code).toBe(200);
      expect(usage.prompt_tokens).toBeGreaterThan(0);
      expect(usage.completion_tokens).toBeLessThanOrEqual(6);
    }
  });

  it("evaluates each shared system prompt of an interleaved batch once: the others read it from a sequence", async () => {
    const systems = ["refunds", "parcels", "invoices"].map((topic) => `${topic}: ${`Answer questions about ${topic} in one short sentence. `.repeat(8)}`);
    // Interleaved in the file; claimed grouped by prefix, four at a time onto four sequences.
    const lines = Array.from({ length: 24 }, (_, i) => ({
      custom_id: `p-${i}`,
      method: "POST",
      url: "/v1/chat/completions",
      body: { model: "tiny", messages: [{ role: "system", content: systems[i % 3] }, { role: "user", content: `Question ${i}?` }], max_tokens: 4, temperature: 0 },
    }));
    const output = await openaiBatch(lines, "/v1/chat/completions");
    expect(output.map((line) => line.custom_id)).toEqual(lines.map((line) => line.custom_id));
    const usages = output.map((line) => line.response.body.usage as { prompt_tokens: number; prompt_tokens_details: { cached_tokens: number } });
    // Only the first Item of each prefix group evaluates its system prompt (without copying between
    // sequences, the first four of each group would, one per sequence).
    const evaluatedWhole = usages.filter((usage) => usage.prompt_tokens_details.cached_tokens < usage.prompt_tokens / 2);
    expect(evaluatedWhole).toHaveLength(3);
    for (const usage of usages) expect(usage.prompt_tokens).toBeGreaterThan(100);
    // The reused tokens show in /metrics (this is the only Batch on the Model with cached tokens).
    const cached = usages.reduce((sum, usage) => sum + usage.prompt_tokens_details.cached_tokens, 0);
    const scrape = await scrapeMetrics(spool.url, {});
    expect(scrape.value("spool_tokens_total", { model: "tiny", type: "cached_input" })).toBeGreaterThanOrEqual(cached);
  });

  it("runs an OpenAI embeddings batch with deterministic vectors of the model's dimension", async () => {
    const lines = ["alpha", "beta", "alpha"].map((input, i) => ({ custom_id: `e-${i}`, method: "POST", url: "/v1/embeddings", body: { model: "tiny", input } }));
    const output = await openaiBatch(lines, "/v1/embeddings");
    const vectors = output.map((line) => (line.response.body.data as { embedding: number[] }[])[0]!.embedding);
    expect(new Set(vectors.map((vector) => vector.length)).size).toBe(1);
    expect(vectors[0]!.length).toBeGreaterThan(0);
    expect(vectors[2]).toEqual(vectors[0]);
    expect(vectors[1]).not.toEqual(vectors[0]);
  });

  it("runs Gemini generation and embedding batches (inline) translated onto the engine", async () => {
    const generation = await geminiJob(() => ai.batches.create({ model: "tiny", src: [{ contents: "first", metadata: { key: "g1" } }, { contents: "second", config: { maxOutputTokens: 5 }, metadata: { key: "g2" } }] }));
    expect(generation.state).toBe("JOB_STATE_SUCCEEDED");
    const responses = generation.dest?.inlinedResponses ?? [];
    expect(responses.map((each) => each.metadata?.key)).toEqual(["g1", "g2"]);
    for (const each of responses) {
      expect(each.response?.candidates?.[0]?.content?.role).toBe("model");
      expect(each.response?.usageMetadata?.promptTokenCount).toBeGreaterThan(0);
    }
    expect(responses[1]?.response?.usageMetadata?.candidatesTokenCount ?? 0).toBeLessThanOrEqual(5);

    const embeddings = await geminiJob(() => ai.batches.createEmbeddings({ model: "tiny", src: { inlinedRequests: { contents: ["alpha", "alpha"], config: { outputDimensionality: 4 } } } }));
    expect(embeddings.state).toBe("JOB_STATE_SUCCEEDED");
    const values = (embeddings.dest?.inlinedEmbedContentResponses ?? []).map((each) => each.response?.embedding?.values ?? []);
    expect(values.map((vector) => vector.length)).toEqual([4, 4]);
    expect(values[1]).toEqual(values[0]);
    expect(Math.hypot(...values[0]!)).toBeCloseTo(1, 5);
  });
});
