/**
 * withTranslation: one Engine serving both dialects. Real engines against in-process fake upstreams for
 * the round trips; a tiny inline Engine where the test needs to control exactly what the inner Engine
 * saw or threw.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { GeminiModelConfig, ModelConfig, OpenAIModelConfig } from "../../../src/config/config.ts";
import type { Dialect, RequestKind } from "../../../src/core/types.ts";
import { EngineError, type Engine, type EngineReply, type EngineRequest } from "../../../src/core/engine.ts";
import { GeminiEngine } from "../../../src/engines/gemini/gemini-engine.ts";
import { OpenAIEngine } from "../../../src/engines/openai/openai-engine.ts";
import { withTranslation } from "../../../src/dialects/translate/translating-engine.ts";
import { startFakeGeminiUpstream, type FakeGeminiUpstream } from "../../helpers/fake-gemini-upstream.ts";
import { startFakeOpenAIUpstream, type FakeOpenAIUpstream } from "../../helpers/fake-openai-upstream.ts";

let gemini: FakeGeminiUpstream;
let openai: FakeOpenAIUpstream;
let geminiEngine: Engine;
let openaiEngine: Engine;

beforeAll(async () => {
  gemini = await startFakeGeminiUpstream({ apiKey: "g-key", thoughtsTokenCount: 5 });
  openai = await startFakeOpenAIUpstream({ apiKey: "sk-key" });
  geminiEngine = withTranslation(new GeminiEngine());
  openaiEngine = withTranslation(new OpenAIEngine());
});

afterAll(async () => {
  await geminiEngine.close();
  await openaiEngine.close();
  await gemini.close();
  await openai.close();
});

const geminiModel = (): GeminiModelConfig => ({ name: "gemini-flash", engine: "gemini", baseUrl: gemini.baseUrl, apiKey: "g-key", upstreamModel: "gemini-2.5-flash", concurrency: 2, timeoutMs: 10_000, maxRetries: 0 });
const openaiModel = (): OpenAIModelConfig => ({ name: "local-llm", engine: "openai", baseUrl: openai.url, apiKey: "sk-key", concurrency: 2, timeoutMs: 10_000, maxRetries: 0 });

function request(dialect: Dialect, kind: RequestKind, body: Record<string, unknown>, model: ModelConfig): EngineRequest {
  return { kind, dialect, body, model, signal: new AbortController().signal };
}

async function failure(promise: Promise<unknown>): Promise<EngineError> {
  const error = await promise.then(() => null, (caught: unknown) => caught);
  expect(error).toBeInstanceOf(EngineError);
  return error as EngineError;
}

/** An Engine that records what reached it and answers with `answer`. */
function inlineEngine(dialect: Dialect, answer: (request: EngineRequest) => EngineReply): Engine & { seen: EngineRequest[] } {
  const seen: EngineRequest[] = [];
  return {
    name: "inline",
    dialect,
    seen,
    async execute(inner) {
      seen.push(inner);
      return answer(inner);
    },
    async close() {},
  };
}

describe("withTranslation around the gemini Engine", () => {
  it("serves an OpenAI chat request as a proper chat.completion", async () => {
    const body = { model: "gemini-flash", messages: [{ role: "system", content: "Be brief." }, { role: "user", content: "What is AI?" }], max_tokens: 50 };
    const reply = await geminiEngine.execute(request("openai", "chat", body, geminiModel()));
    expect(gemini.lastRequest?.path).toBe("/v1beta/models/gemini-2.5-flash:generateContent");
    expect(gemini.lastRequest?.body).toEqual({
      contents: [{ role: "user", parts: [{ text: "What is AI?" }] }],
      systemInstruction: { parts: [{ text: "Be brief." }] },
      generationConfig: { maxOutputTokens: 50 },
    });
    const completion = reply.body as { object: string; model: string; choices: { message: { role: string; content: string }; finish_reason: string }[]; usage: Record<string, unknown> };
    expect(completion).toMatchObject({ object: "chat.completion", model: "gemini-flash" });
    expect(completion.choices).toEqual([{ index: 0, message: { role: "assistant", content: "echo: What is AI?", refusal: null }, logprobs: null, finish_reason: "stop" }]);
    expect(completion.usage).toMatchObject({ completion_tokens: reply.usage.outputTokens, prompt_tokens: reply.usage.inputTokens, completion_tokens_details: { reasoning_tokens: 5 } });
  });

  it("serves OpenAI embeddings with several inputs through one batchEmbedContents call", async () => {
    const reply = await geminiEngine.execute(request("openai", "embedding", { model: "gemini-flash", input: ["a", "b"], dimensions: 4 }, geminiModel()));
    expect(gemini.lastRequest?.method).toBe("batchEmbedContents");
    const list = reply.body as { object: string; data: { index: number; embedding: number[] }[] };
    expect(list.object).toBe("list");
    expect(list.data.map((entry) => [entry.index, entry.embedding.length])).toEqual([[0, 4], [1, 4]]);
  });

  it("passes a Gemini request through untouched", async () => {
    const body = { contents: [{ parts: [{ text: "native" }] }], generationConfig: { responseModalities: ["TEXT"], candidateCount: 1 } };
    const reply = await geminiEngine.execute(request("gemini", "chat", body, geminiModel()));
    expect(gemini.lastRequest?.body).toEqual(body);
    expect(reply.body).toMatchObject({ candidates: [{ content: { role: "model", parts: [{ text: "echo: native" }] } }] });
  });

  it("turns an upstream 429 into an OpenAI error body, keeping the retry decision", async () => {
    gemini.setFault(() => ({ status: 429, retryAfter: "3" }));
    try {
      const error = await failure(geminiEngine.execute(request("openai", "chat", { messages: [{ role: "user", content: "busy" }] }, geminiModel())));
      expect(error).toMatchObject({ kind: "http", statusCode: 429, retryable: true, retryAfterMs: 3000 });
      expect(error.body).toEqual({ error: { message: expect.any(String), type: "rate_limit_error", param: null, code: "RESOURCE_EXHAUSTED" } });
    } finally {
      gemini.setFault(null);
    }
  });

  it("rejects an OpenAI field Gemini cannot take before calling the upstream, in OpenAI's error shape", async () => {
    const before = gemini.requests;
    const error = await failure(geminiEngine.execute(request("openai", "chat", { messages: [{ role: "user", content: "x" }], logit_bias: { "1": 5 } }, geminiModel())));
    expect(error).toMatchObject({ kind: "unsupported", statusCode: 400, retryable: false });
    expect(error.body).toEqual({ error: { message: error.message, type: "invalid_request_error", param: "logit_bias", code: null } });
    expect(gemini.requests).toBe(before);
  });
});

describe("withTranslation around the openai Engine", () => {
  it("serves a Gemini generateContent request as a GenerateContentResponse", async () => {
    const body = { contents: [{ role: "user", parts: [{ text: "Describe photosynthesis." }] }], generation_config: { temperature: 0.7 } };
    const reply = await openaiEngine.execute(request("gemini", "chat", body, openaiModel()));
    expect(openai.lastRequest?.body).toEqual({ model: "local-llm", messages: [{ role: "user", content: "Describe photosynthesis." }], temperature: 0.7 });
    const response = reply.body as { candidates: unknown[]; usageMetadata: Record<string, number>; modelVersion: string };
    expect(response.candidates).toEqual([{ content: { role: "model", parts: [{ text: "echo: Describe photosynthesis." }] }, finishReason: "STOP", index: 0 }]);
    expect(response.modelVersion).toBe("local-llm");
    expect(response.usageMetadata.totalTokenCount).toBe(reply.usage.inputTokens + reply.usage.outputTokens);
  });

  it("rejects responseModalities AUDIO with a Gemini error body naming the field, without calling the upstream", async () => {
    const before = openai.requests;
    const body = { contents: [{ parts: [{ text: "say it" }] }], generationConfig: { responseModalities: ["AUDIO"] } };
    const error = await failure(openaiEngine.execute(request("gemini", "chat", body, openaiModel())));
    expect(error).toMatchObject({ kind: "unsupported", statusCode: 400, retryable: false });
    expect(error.body).toMatchObject({
      error: { code: 400, status: "INVALID_ARGUMENT", details: [{ fieldViolations: [{ field: "request.generationConfig.responseModalities" }] }] },
    });
    expect(openai.requests).toBe(before);
  });

  it("turns an upstream OpenAI error into Google's envelope, keeping status and retryability", async () => {
    openai.setFault(() => ({ status: 503 }));
    try {
      const error = await failure(openaiEngine.execute(request("gemini", "chat", { contents: [{ parts: [{ text: "down" }] }] }, openaiModel())));
      expect(error).toMatchObject({ statusCode: 503, retryable: true });
      expect(error.body).toEqual({ error: { code: 503, message: expect.any(String), status: "UNAVAILABLE" } });
    } finally {
      openai.setFault(null);
    }
  });
});

describe("withTranslation with an inline Engine", () => {
  const embeddingReply = (embedding: number[]): EngineReply => ({
    statusCode: 200,
    body: { object: "list", data: [{ object: "embedding", index: 0, embedding }], model: "m", usage: { prompt_tokens: 2, total_tokens: 2 } },
    usage: { inputTokens: 2, outputTokens: 0 },
    requestId: "req_1",
  });

  it("hands the inner Engine its own dialect and keeps usage and request id on the way out", async () => {
    const inner = inlineEngine("openai", () => embeddingReply([3, 4, 12]));
    const reply = await withTranslation(inner).execute(request("gemini", "embedding", { taskType: "RETRIEVAL_QUERY", outputDimensionality: 2, content: { parts: [{ text: "q" }] } }, openaiModel()));
    expect(inner.seen[0]?.dialect).toBe("openai");
    expect(inner.seen[0]?.body).toEqual({ input: "q", dimensions: 2, encoding_format: "float" });
    expect(reply).toEqual({ statusCode: 200, body: { embedding: { values: [0.6, 0.8] } }, usage: { inputTokens: 2, outputTokens: 0 }, requestId: "req_1" });
  });

  it("fails the Item when the engine's vector is shorter than outputDimensionality", async () => {
    const inner = inlineEngine("openai", () => embeddingReply([1, 0]));
    const error = await failure(withTranslation(inner).execute(request("gemini", "embedding", { outputDimensionality: 3, content: { parts: [{ text: "q" }] } }, openaiModel())));
    expect(error).toMatchObject({ kind: "unsupported", statusCode: 400, retryable: false, body: { error: { code: 400, status: "INVALID_ARGUMENT" } } });
  });

  it("passes a native request to the inner Engine as the same object", async () => {
    const inner = inlineEngine("openai", () => embeddingReply([1]));
    const native = request("openai", "embedding", { input: "x", some_new_field: 1 }, openaiModel());
    await withTranslation(inner).execute(native);
    expect(inner.seen[0]).toBe(native);
  });

  it("translates an inner EngineError's body and keeps retryAfterMs and requestId", async () => {
    const inner: Engine = {
      name: "inline",
      dialect: "openai",
      async execute() {
        throw new EngineError({ kind: "http", message: "rate limited", statusCode: 429, body: { error: { message: "slow down", type: "requests", param: null, code: "rate_limit_exceeded" } }, retryable: true, retryAfterMs: 2500, requestId: "req_9" });
      },
      async close() {},
    };
    const error = await failure(withTranslation(inner).execute(request("gemini", "chat", { contents: [{ parts: [{ text: "x" }] }] }, openaiModel())));
    expect(error).toMatchObject({ kind: "http", statusCode: 429, retryable: true, retryAfterMs: 2500, requestId: "req_9" });
    expect(error.body).toEqual({ error: { code: 429, message: "slow down", status: "RESOURCE_EXHAUSTED" } });
  });
});
