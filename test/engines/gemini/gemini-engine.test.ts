/**
 * The gemini Engine against the in-process fake Gemini upstream: one HTTP exchange per call, every
 * failure an EngineError with Google's retry conventions already applied.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import type { GeminiModelConfig } from "../../../src/config/config.ts";
import type { RequestKind } from "../../../src/core/types.ts";
import { EngineError } from "../../../src/core/engine.ts";
import { GeminiEngine, retryInfoDelayMs } from "../../../src/engines/gemini/gemini-engine.ts";
import { startFakeGeminiUpstream, type FakeGeminiUpstream } from "../../helpers/fake-gemini-upstream.ts";

let upstream: FakeGeminiUpstream;
let engine: GeminiEngine;
const NOW = Date.UTC(2026, 0, 1);

beforeAll(async () => {
  upstream = await startFakeGeminiUpstream({ apiKey: "g-upstream", thoughtsTokenCount: 7 });
  engine = new GeminiEngine({ nowMs: () => NOW });
});

afterEach(() => upstream.setFault(null));

afterAll(async () => {
  await engine.close();
  await upstream.close();
});

function model(overrides: Partial<GeminiModelConfig> = {}): GeminiModelConfig {
  return { name: "gemini-test", engine: "gemini", baseUrl: upstream.baseUrl, apiKey: "g-upstream", concurrency: 4, timeoutMs: 10_000, maxRetries: 0, ...overrides };
}

function generate(text: string, extra: Record<string, unknown> = {}) {
  return { model: "models/client-name", contents: [{ role: "user", parts: [{ text }] }], ...extra };
}

function run(body: Record<string, unknown>, options: { kind?: RequestKind; model?: GeminiModelConfig; signal?: AbortSignal } = {}) {
  return engine.execute({ kind: options.kind ?? "chat", dialect: "gemini", body, model: options.model ?? model(), signal: options.signal ?? new AbortController().signal });
}

async function failure(promise: Promise<unknown>): Promise<EngineError> {
  const error = await promise.then(() => null, (caught: unknown) => caught);
  expect(error).toBeInstanceOf(EngineError);
  return error as EngineError;
}

type Generated = { candidates: { content: { parts?: { text: string }[] }; finishReason: string }[]; usageMetadata: Record<string, number>; responseId: string };

describe("GeminiEngine", () => {
  it("posts generateContent for the upstream model with the API key, without the per-line model", async () => {
    const reply = await run(generate("hello there", { generation_config: { temperature: 0.2 } }), { model: model({ upstreamModel: "gemini-2.5-flash" }) });
    const sent = upstream.lastRequest;
    expect(sent?.path).toBe("/v1beta/models/gemini-2.5-flash:generateContent");
    expect(sent?.headers["x-goog-api-key"]).toBe("g-upstream");
    expect(sent?.body).toEqual({ contents: [{ role: "user", parts: [{ text: "hello there" }] }], generation_config: { temperature: 0.2 } });
    const body = reply.body as Generated;
    expect(reply.statusCode).toBe(200);
    expect(body.candidates[0]?.content.parts?.[0]?.text).toBe("echo: hello there");
    expect((reply.body as { modelVersion: string }).modelVersion).toBe("gemini-test"); // not the upstream's "gemini-2.5-flash"
    expect(reply.usage).toEqual({ inputTokens: body.usageMetadata.promptTokenCount, outputTokens: (body.usageMetadata.candidatesTokenCount ?? 0) + 7, cachedInputTokens: body.usageMetadata.cachedContentTokenCount ?? 0 });
    expect(reply.requestId).toBe(body.responseId);
  });

  it("answers JSON text when the request asks for application/json", async () => {
    const reply = await run(generate("structured", { generationConfig: { responseMimeType: "application/json" } }));
    const text = (reply.body as Generated).candidates[0]?.content.parts?.[0]?.text ?? "";
    expect(JSON.parse(text)).toEqual({ echo: "structured" });
  });

  it("keeps a base URL path prefix and a name that already names a resource", async () => {
    await run(generate("prefixed"), { model: model({ baseUrl: `${upstream.baseUrl}/proxy/`, upstreamModel: "tunedModels/my-tune" }) });
    expect(upstream.lastRequest?.path).toBe("/proxy/v1beta/tunedModels/my-tune:generateContent");
  });

  it("posts embedContent for one input and batchEmbedContents, with the model on every request, for several", async () => {
    const single = await run({ model: "m", content: { parts: [{ text: "one" }] }, outputDimensionality: 3 }, { kind: "embedding" });
    expect(upstream.lastRequest?.path).toBe("/v1beta/models/gemini-test:embedContent");
    expect((single.body as { embedding: { values: number[] } }).embedding.values).toHaveLength(3);
    const batch = await run({ requests: [{ content: { parts: [{ text: "a" }] } }, { content: { parts: [{ text: "b" }] } }] }, { kind: "embedding" });
    expect(upstream.lastRequest?.path).toBe("/v1beta/models/gemini-test:batchEmbedContents");
    expect((upstream.lastRequest?.body.requests as { model: string }[]).map((request) => request.model)).toEqual(["models/gemini-test", "models/gemini-test"]);
    expect((batch.body as { embeddings: unknown[] }).embeddings).toHaveLength(2);
  });

  it("makes a 429 retryable with the server's Retry-After", async () => {
    upstream.setFault(() => ({ status: 429, retryAfter: "7" }));
    const error = await failure(run(generate("busy")));
    expect(error).toMatchObject({ kind: "http", statusCode: 429, retryable: true, retryAfterMs: 7000 });
    expect(error.body).toMatchObject({ error: { code: 429, status: "RESOURCE_EXHAUSTED" } });
  });

  it("reads the delay from google.rpc.RetryInfo when there is no Retry-After", async () => {
    upstream.setFault(() => ({ status: 429, retryDelay: "12s" }));
    expect(await failure(run(generate("quota")))).toMatchObject({ retryable: true, retryAfterMs: 12_000 });
  });

  it.each([500, 503])("makes a %i retryable", async (status) => {
    upstream.setFault(() => ({ status }));
    expect(await failure(run(generate("flaky")))).toMatchObject({ kind: "http", statusCode: status, retryable: true });
  });

  it("keeps a 400 not retryable with Google's error body", async () => {
    const googleBody = { error: { code: 400, message: "* GenerateContentRequest.generation_config.temperature: must be in [0, 2]", status: "INVALID_ARGUMENT" } };
    upstream.setFault(() => ({ status: 400, body: googleBody }));
    const error = await failure(run(generate("bad")));
    expect(error).toMatchObject({ kind: "http", statusCode: 400, retryable: false, retryAfterMs: null });
    expect(error.body).toEqual(googleBody);
  });

  it("does not retry a 409 (Google uses it for ALREADY_EXISTS)", async () => {
    upstream.setFault(() => ({ status: 409, body: { error: { code: 409, message: "exists", status: "ALREADY_EXISTS" } } }));
    expect(await failure(run(generate("conflict")))).toMatchObject({ statusCode: 409, retryable: false });
  });

  it("reports a wrong API key as the upstream's 400", async () => {
    const error = await failure(run(generate("who am i"), { model: model({ apiKey: "wrong" }) }));
    expect(error).toMatchObject({ statusCode: 400, retryable: false });
    expect(JSON.stringify(error.body)).toContain("API_KEY_INVALID");
  });

  it("makes a reset connection a retryable network error", async () => {
    upstream.setFault(() => ({ reset: true }));
    expect(await failure(run(generate("reset")))).toMatchObject({ kind: "network", retryable: true, statusCode: null });
  });

  it("times out after the model's timeoutMs", async () => {
    upstream.setFault(() => ({ hang: true }));
    expect(await failure(run(generate("slow"), { model: model({ timeoutMs: 100 }) }))).toMatchObject({ kind: "timeout", retryable: true });
  });

  it("returns an empty MAX_TOKENS candidate as a success with its usage", async () => {
    upstream.setFault(() => ({ emptyCandidate: true }));
    const reply = await run(generate("think hard"));
    const body = reply.body as Generated;
    expect(reply.statusCode).toBe(200);
    expect(body.candidates).toEqual([{ content: { role: "model" }, finishReason: "MAX_TOKENS", index: 0 }]);
    expect(reply.usage.outputTokens).toBe(7);
  });

  it("returns a blocked prompt (no candidates) as a success", async () => {
    upstream.setFault(() => ({ blockReason: "SAFETY" }));
    const reply = await run(generate("blocked"));
    expect(reply.body).toMatchObject({ promptFeedback: { blockReason: "SAFETY" } });
    expect(reply.body).not.toHaveProperty("candidates");
  });

  it("rejects legacy completions as unsupported with a Google error body", async () => {
    const error = await failure(run({ prompt: "x" }, { kind: "completion" }));
    expect(error).toMatchObject({ kind: "unsupported", statusCode: 400, retryable: false, body: { error: { code: 400, status: "INVALID_ARGUMENT" } } });
    expect(upstream.lastRequest?.body).not.toEqual({ prompt: "x" });
  });
});

describe("retryInfoDelayMs", () => {
  it("reads fractional seconds and ignores other detail types", () => {
    expect(retryInfoDelayMs([{ "@type": "type.googleapis.com/google.rpc.QuotaFailure" }, { "@type": "type.googleapis.com/google.rpc.RetryInfo", retryDelay: "1.5s" }])).toBe(1500);
    expect(retryInfoDelayMs([{ "@type": "type.googleapis.com/google.rpc.ErrorInfo", retryDelay: "3s" }])).toBeNull();
    expect(retryInfoDelayMs(undefined)).toBeNull();
  });
});
