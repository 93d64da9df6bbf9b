/** Gemini replies -> OpenAI chat.completion / embedding list, for OpenAI-dialect Items on the gemini Engine. */
import { describe, expect, it } from "vitest";
import { geminiToOpenAIResponse } from "../../../src/dialects/translate/gemini-to-openai-response.ts";
import { decodeBase64Floats } from "../../../src/dialects/translate/openai-to-gemini-response.ts";

const options = { modelName: "gemini-flash", nowMs: 1_700_000_000_000 };

describe("geminiToOpenAIResponse (chat)", () => {
  it("builds a chat.completion with usage that folds thoughts into completion tokens", () => {
    const reply = geminiToOpenAIResponse(
      "chat",
      {
        candidates: [{ content: { role: "model", parts: [{ text: "I think...", thought: true }, { text: "AI learns " }, { text: "patterns." }] }, finishReason: "STOP", index: 0 }],
        usageMetadata: { promptTokenCount: 8, candidatesTokenCount: 11, thoughtsTokenCount: 829, totalTokenCount: 848 },
        modelVersion: "gemini-2.5-flash",
        responseId: "6VFkaIDw",
      },
      options,
    );
    expect(reply).toEqual({
      id: "6VFkaIDw",
      object: "chat.completion",
      created: 1_700_000_000,
      model: "gemini-flash",
      choices: [{ index: 0, message: { role: "assistant", content: "AI learns patterns.", reasoning_content: "I think...", refusal: null }, logprobs: null, finish_reason: "stop" }],
      usage: { prompt_tokens: 8, completion_tokens: 840, total_tokens: 848, completion_tokens_details: { reasoning_tokens: 829 } },
    });
  });

  it.each([
    ["STOP", "stop"],
    ["MAX_TOKENS", "length"],
    ["SAFETY", "content_filter"],
    ["RECITATION", "content_filter"],
    ["PROHIBITED_CONTENT", "content_filter"],
    ["MALFORMED_FUNCTION_CALL", "stop"],
    ["OTHER", "stop"],
  ])("maps finishReason %s to %s", (finishReason, expected) => {
    const reply = geminiToOpenAIResponse("chat", { candidates: [{ content: { role: "model", parts: [{ text: "x" }] }, finishReason }] }, options);
    expect((reply.choices as { finish_reason: string }[])[0]?.finish_reason).toBe(expected);
  });

  it("reports an empty MAX_TOKENS candidate as null content with finish_reason length", () => {
    const reply = geminiToOpenAIResponse("chat", { candidates: [{ content: { role: "model" }, finishReason: "MAX_TOKENS", index: 0 }], usageMetadata: { promptTokenCount: 4, thoughtsTokenCount: 64, totalTokenCount: 68 } }, options);
    expect(reply.choices).toEqual([{ index: 0, message: { role: "assistant", content: null, refusal: null }, logprobs: null, finish_reason: "length" }]);
    expect(reply.usage).toEqual({ prompt_tokens: 4, completion_tokens: 64, total_tokens: 68, completion_tokens_details: { reasoning_tokens: 64 } });
  });

  it("reports a blocked prompt as one content-filtered choice", () => {
    const reply = geminiToOpenAIResponse("chat", { promptFeedback: { blockReason: "SAFETY" }, usageMetadata: { promptTokenCount: 4, totalTokenCount: 4 } }, options);
    expect(reply.choices).toEqual([{ index: 0, message: { role: "assistant", content: null, refusal: null }, logprobs: null, finish_reason: "content_filter" }]);
  });

  it("turns functionCall parts into tool_calls with finish_reason tool_calls and the thought signature", () => {
    const reply = geminiToOpenAIResponse("chat", { candidates: [{ content: { role: "model", parts: [{ functionCall: { name: "weather", args: { city: "Paris" } }, thoughtSignature: "sig" }] }, finishReason: "STOP" }] }, options);
    const choice = (reply.choices as { message: { tool_calls: unknown[] }; finish_reason: string }[])[0];
    expect(choice?.finish_reason).toBe("tool_calls");
    expect(choice?.message.tool_calls).toEqual([{ id: "call_0_0", type: "function", function: { name: "weather", arguments: '{"city":"Paris"}' }, extra_content: { google: { thought_signature: "sig" } } }]);
  });

  it("adds tool-use prompt tokens to prompt_tokens so totals agree", () => {
    const reply = geminiToOpenAIResponse("chat", { candidates: [], usageMetadata: { promptTokenCount: 10, toolUsePromptTokenCount: 5, candidatesTokenCount: 2, cachedContentTokenCount: 4, totalTokenCount: 17 } }, options);
    expect(reply.usage).toEqual({ prompt_tokens: 15, completion_tokens: 2, total_tokens: 17, prompt_tokens_details: { cached_tokens: 4 }, completion_tokens_details: { reasoning_tokens: 0 } });
  });
});

describe("geminiToOpenAIResponse (embedding)", () => {
  it("turns {embedding} into a one-entry embedding list", () => {
    expect(geminiToOpenAIResponse("embedding", { embedding: { values: [0.1, 0.2] } }, options)).toEqual({
      object: "list",
      data: [{ object: "embedding", index: 0, embedding: [0.1, 0.2] }],
      model: "gemini-flash",
      usage: { prompt_tokens: 0, total_tokens: 0 },
    });
  });

  it("turns {embeddings} into an ordered list, base64-encoded when the request asked for it", () => {
    const reply = geminiToOpenAIResponse("embedding", { embeddings: [{ values: [0.5] }, { values: [-0.25] }] }, { ...options, request: { input: ["a", "b"], encoding_format: "base64" } });
    const data = reply.data as { index: number; embedding: string }[];
    expect(data.map((entry) => entry.index)).toEqual([0, 1]);
    expect(decodeBase64Floats(data[1]?.embedding ?? "")).toEqual([-0.25]);
  });
});
