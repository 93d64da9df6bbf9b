/**
 * OpenAI replies -> Gemini GenerateContentResponse / EmbedContentResponse, including the empty answers
 * that must be reported rather than dropped, and Gemini's separate thought-token accounting.
 */
import { describe, expect, it } from "vitest";
import { fitEmbeddingDimension } from "../../../src/dialects/translate/embedding-dimension.ts";
import { openAIToGeminiResponse } from "../../../src/dialects/translate/openai-to-gemini-response.ts";
import { TranslationError } from "../../../src/dialects/translate/translation-error.ts";

const options = { modelName: "gemini-2.5-flash" };

function completion(choices: unknown[], usage: unknown = { prompt_tokens: 5, completion_tokens: 3, total_tokens: 8 }) {
  return { id: "chatcmpl-1", object: "chat.completion", created: 1, model: "upstream", choices, usage };
}

function choice(message: Record<string, unknown>, finish_reason: string | null = "stop", index = 0) {
  return { index, message: { role: "assistant", ...message }, logprobs: null, finish_reason };
}

describe("openAIToGeminiResponse (chat)", () => {
  it("builds candidates, usage, modelVersion and responseId from a chat.completion", () => {
    expect(openAIToGeminiResponse("chat", completion([choice({ content: "AI learns patterns." })]), options)).toEqual({
      candidates: [{ content: { role: "model", parts: [{ text: "AI learns patterns." }] }, finishReason: "STOP", index: 0 }],
      usageMetadata: { promptTokenCount: 5, candidatesTokenCount: 3, totalTokenCount: 8 },
      modelVersion: "gemini-2.5-flash",
      responseId: "chatcmpl-1",
    });
  });

  it.each([
    ["stop", "STOP"],
    ["length", "MAX_TOKENS"],
    ["content_filter", "SAFETY"],
    ["tool_calls", "STOP"],
    ["something_new", "OTHER"],
  ])("maps finish_reason %s to %s", (reason, expected) => {
    const reply = openAIToGeminiResponse("chat", completion([choice({ content: "x" }, reason)]), options);
    expect((reply.candidates as { finishReason: string }[])[0]?.finishReason).toBe(expected);
  });

  it("counts reasoning tokens as thoughts: 8 prompt + 11 candidates + 829 thoughts = 848 total", () => {
    const usage = { prompt_tokens: 8, completion_tokens: 840, total_tokens: 848, completion_tokens_details: { reasoning_tokens: 829 }, prompt_tokens_details: { cached_tokens: 0 } };
    const reply = openAIToGeminiResponse("chat", completion([choice({ content: "ok" })], usage), options);
    expect(reply.usageMetadata).toEqual({ promptTokenCount: 8, candidatesTokenCount: 11, thoughtsTokenCount: 829, totalTokenCount: 848 });
  });

  it.each([
    ["null content", null],
    ["empty content", ""],
  ])("reports an empty answer (%s) as a candidate without parts", (_case, content) => {
    const usage = { prompt_tokens: 8, completion_tokens: 100, total_tokens: 108, completion_tokens_details: { reasoning_tokens: 100 } };
    const reply = openAIToGeminiResponse("chat", completion([choice({ content }, "length")], usage), options);
    expect(reply.candidates).toEqual([{ content: { role: "model" }, finishReason: "MAX_TOKENS", index: 0 }]);
    expect(reply.usageMetadata).toEqual({ promptTokenCount: 8, candidatesTokenCount: 0, thoughtsTokenCount: 100, totalTokenCount: 108 });
  });

  it("reports a reply without choices as a response without candidates", () => {
    const reply = openAIToGeminiResponse("chat", completion([]), options);
    expect(reply).not.toHaveProperty("candidates");
    expect(reply.usageMetadata).toEqual({ promptTokenCount: 5, candidatesTokenCount: 3, totalTokenCount: 8 });
  });

  it("survives a reply that is not an object at all", () => {
    expect(openAIToGeminiResponse("chat", null, options)).toEqual({ modelVersion: "gemini-2.5-flash" });
  });

  it("turns tool calls into functionCall parts and bad arguments into MALFORMED_FUNCTION_CALL", () => {
    const good = choice({ content: null, tool_calls: [{ id: "call_9", type: "function", function: { name: "weather", arguments: '{"city":"Paris"}' } }] }, "tool_calls");
    const bad = choice({ content: null, tool_calls: [{ id: "call_8", type: "function", function: { name: "weather", arguments: "{not json" } }] }, "tool_calls", 1);
    const reply = openAIToGeminiResponse("chat", completion([good, bad]), options);
    expect(reply.candidates).toEqual([
      { content: { role: "model", parts: [{ functionCall: { id: "call_9", name: "weather", args: { city: "Paris" } } }] }, finishReason: "STOP", index: 0 },
      { content: { role: "model" }, finishReason: "MALFORMED_FUNCTION_CALL", index: 1 },
    ]);
  });

  it("unwraps a text/x.enum answer and shows reasoning as thought parts when asked to", () => {
    const request = { contents: [], generationConfig: { responseMimeType: "text/x.enum", thinkingConfig: { includeThoughts: true } } };
    const reply = openAIToGeminiResponse("chat", completion([choice({ content: '{"value":"positive"}', reasoning_content: "It sounds happy." })]), { ...options, request });
    expect((reply.candidates as { content: unknown }[])[0]?.content).toEqual({ role: "model", parts: [{ text: "It sounds happy.", thought: true }, { text: "positive" }] });
  });

  it("leaves reasoning out when thoughts were not asked for", () => {
    const reply = openAIToGeminiResponse("chat", completion([choice({ content: "hi", reasoning_content: "hidden" })]), options);
    expect((reply.candidates as { content: unknown }[])[0]?.content).toEqual({ role: "model", parts: [{ text: "hi" }] });
  });

  it("turns token logprobs into logprobsResult and avgLogprobs", () => {
    const logprobs = { content: [{ token: "a", logprob: -1, top_logprobs: [{ token: "a", logprob: -1 }, { token: "b", logprob: -2 }] }, { token: "c", logprob: -3, top_logprobs: [] }] };
    const reply = openAIToGeminiResponse("chat", completion([{ ...choice({ content: "ac" }), logprobs }]), options);
    expect((reply.candidates as Record<string, unknown>[])[0]).toMatchObject({
      avgLogprobs: -2,
      logprobsResult: {
        chosenCandidates: [{ token: "a", logProbability: -1 }, { token: "c", logProbability: -3 }],
        topCandidates: [{ candidates: [{ token: "a", logProbability: -1 }, { token: "b", logProbability: -2 }] }, { candidates: [] }],
      },
    });
  });
});

describe("openAIToGeminiResponse (embedding)", () => {
  const list = (embedding: unknown) => ({ object: "list", data: [{ object: "embedding", index: 0, embedding }], model: "e", usage: { prompt_tokens: 1, total_tokens: 1 } });

  it("returns {embedding: {values}}", () => {
    expect(openAIToGeminiResponse("embedding", list([0.1, 0.2]), options)).toEqual({ embedding: { values: [0.1, 0.2] } });
  });

  it("truncates and renormalises a longer vector to the request's outputDimensionality", () => {
    const reply = openAIToGeminiResponse("embedding", list([3, 4, 12]), { ...options, request: { output_dimensionality: 2, content: { parts: [{ text: "x" }] } } });
    expect(reply).toEqual({ embedding: { values: [0.6, 0.8] } });
  });

  it("fails when the engine's vector is shorter than outputDimensionality", () => {
    expect(() => openAIToGeminiResponse("embedding", list([1, 0]), { ...options, request: { outputDimensionality: 3, content: {} } })).toThrow(TranslationError);
  });

  it("decodes base64 vectors and answers a batchEmbedContents body with embeddings in input order", () => {
    const base64 = Buffer.from(new Float32Array([0.5, -0.25]).buffer).toString("base64");
    const reply = { object: "list", data: [{ object: "embedding", index: 1, embedding: [1, 0] }, { object: "embedding", index: 0, embedding: base64 }] };
    const request = { requests: [{ content: { parts: [{ text: "a" }] } }, { content: { parts: [{ text: "b" }] } }] };
    expect(openAIToGeminiResponse("embedding", reply, { ...options, request })).toEqual({ embeddings: [{ values: [0.5, -0.25] }, { values: [1, 0] }] });
  });
});

describe("fitEmbeddingDimension", () => {
  it("truncates to the first components and restores unit length", () => {
    const fitted = fitEmbeddingDimension([0.5, 0.5, 0.5, 0.5], 2);
    expect(fitted).toHaveLength(2);
    expect(fitted[0]).toBeCloseTo(Math.SQRT1_2);
    expect(Math.hypot(...fitted)).toBeCloseTo(1);
  });

  it("returns a vector of the exact size unchanged", () => {
    expect(fitEmbeddingDimension([0.1, 0.2, 0.3], 3)).toEqual([0.1, 0.2, 0.3]);
  });

  it("throws a TranslationError naming outputDimensionality when the vector is too short", () => {
    expect(() => fitEmbeddingDimension([0.1, 0.2], 3)).toThrow(expect.objectContaining({ name: "TranslationError", param: "request.outputDimensionality" }));
  });
});
