/** OpenAI chat / embedding bodies -> Gemini requests, for OpenAI-dialect Items served by the gemini Engine. */
import { describe, expect, it } from "vitest";
import { openAIToGeminiRequest } from "../../../src/dialects/translate/openai-to-gemini-request.ts";
import { TranslationError } from "../../../src/dialects/translate/translation-error.ts";

function rejection(run: () => unknown): TranslationError {
  try {
    run();
  } catch (error) {
    expect(error).toBeInstanceOf(TranslationError);
    return error as TranslationError;
  }
  throw new Error("expected a TranslationError");
}

describe("openAIToGeminiRequest (chat)", () => {
  it("turns messages into contents and system messages into systemInstruction", () => {
    const body = openAIToGeminiRequest("chat", {
      model: "gemini-2.5-flash",
      messages: [
        { role: "system", content: "Be terse." },
        { role: "user", content: "Hi" },
        { role: "assistant", content: "Hello." },
        { role: "developer", content: [{ type: "text", text: "No emoji." }] },
        { role: "user", content: [{ type: "text", text: "Look:" }, { type: "image_url", image_url: { url: "data:image/jpeg;base64,/9j/4AAQ" } }] },
      ],
    });
    expect(body).toEqual({
      systemInstruction: { parts: [{ text: "Be terse." }, { text: "No emoji." }] },
      contents: [
        { role: "user", parts: [{ text: "Hi" }] },
        { role: "model", parts: [{ text: "Hello." }] },
        { role: "user", parts: [{ text: "Look:" }, { inlineData: { mimeType: "image/jpeg", data: "/9j/4AAQ" } }] },
      ],
    });
  });

  it("maps every sampling parameter into generationConfig", () => {
    const body = openAIToGeminiRequest("chat", {
      messages: [{ role: "user", content: "x" }],
      temperature: 0.3,
      top_p: 0.9,
      top_k: 40,
      n: 2,
      max_completion_tokens: 256,
      stop: "END",
      presence_penalty: 0.1,
      frequency_penalty: 0.2,
      seed: 7,
      logprobs: true,
      top_logprobs: 3,
      reasoning_effort: "low",
      stream: false,
      user: "u-1",
    });
    expect(body.generationConfig).toEqual({
      temperature: 0.3,
      topP: 0.9,
      topK: 40,
      candidateCount: 2,
      maxOutputTokens: 256,
      stopSequences: ["END"],
      presencePenalty: 0.1,
      frequencyPenalty: 0.2,
      seed: 7,
      responseLogprobs: true,
      logprobs: 3,
      thinkingConfig: { thinkingBudget: 1024 },
    });
  });

  it("maps response_format json_schema to responseJsonSchema and json_object to JSON mode", () => {
    const schema = { type: "object", properties: { a: { type: "string" } } };
    const withSchema = openAIToGeminiRequest("chat", { messages: [{ role: "user", content: "x" }], max_tokens: 5, response_format: { type: "json_schema", json_schema: { name: "r", schema, strict: true } } });
    expect(withSchema.generationConfig).toEqual({ maxOutputTokens: 5, responseMimeType: "application/json", responseJsonSchema: schema });
    const jsonMode = openAIToGeminiRequest("chat", { messages: [{ role: "user", content: "x" }], response_format: { type: "json_object" } });
    expect(jsonMode.generationConfig).toEqual({ responseMimeType: "application/json" });
  });

  it("maps tools, tool_choice, tool calls and tool results, keeping thought signatures", () => {
    const body = openAIToGeminiRequest("chat", {
      messages: [
        { role: "user", content: "Weather?" },
        {
          role: "assistant",
          content: null,
          tool_calls: [
            { id: "c1", type: "function", function: { name: "weather", arguments: '{"city":"Paris"}' }, extra_content: { google: { thought_signature: "sig1" } } },
            { id: "c2", type: "function", function: { name: "time", arguments: "{}" } },
          ],
        },
        { role: "tool", tool_call_id: "c1", content: '{"temp":20}' },
        { role: "tool", tool_call_id: "c2", content: "noon" },
      ],
      tools: [{ type: "function", function: { name: "weather", description: "d", parameters: { type: "object", properties: { city: { type: "string" } } } } }],
      tool_choice: { type: "function", function: { name: "weather" } },
    });
    expect(body.contents).toEqual([
      { role: "user", parts: [{ text: "Weather?" }] },
      { role: "model", parts: [{ functionCall: { name: "weather", args: { city: "Paris" } }, thoughtSignature: "sig1" }, { functionCall: { name: "time", args: {} } }] },
      { role: "user", parts: [{ functionResponse: { name: "weather", response: { temp: 20 } } }, { functionResponse: { name: "time", response: { result: "noon" } } }] },
    ]);
    expect(body.tools).toEqual([{ functionDeclarations: [{ name: "weather", description: "d", parametersJsonSchema: { type: "object", properties: { city: { type: "string" } } } }] }]);
    expect(body.toolConfig).toEqual({ functionCallingConfig: { mode: "ANY", allowedFunctionNames: ["weather"] } });
  });

  it.each([
    [{ logit_bias: { "50256": -100 } }, "logit_bias"],
    [{ modalities: ["text", "audio"] }, "modalities"],
    [{ tools: [{ type: "custom", custom: { name: "x" } }] }, "tools[0].type"],
    [{ messages: [{ role: "user", content: [{ type: "image_url", image_url: { url: "https://example.com/cat" } }] }] }, "messages[0].content[0].image_url.url"],
    [{ messages: [{ role: "user", content: "x" }, { role: "tool", tool_call_id: "nope", content: "1" }] }, "messages[1].tool_call_id"],
    [{ response_format: { type: "grammar" } }, "response_format.type"],
  ])("rejects what Gemini cannot take, naming the field (%#)", (extra, param) => {
    const error = rejection(() => openAIToGeminiRequest("chat", { messages: [{ role: "user", content: "x" }], ...extra }));
    expect(error.param).toBe(param);
  });

  it("rejects legacy completions", () => {
    rejection(() => openAIToGeminiRequest("completion", { prompt: "x" }));
  });
});

describe("openAIToGeminiRequest (embedding)", () => {
  it("turns one string input into an EmbedContentRequest with outputDimensionality", () => {
    expect(openAIToGeminiRequest("embedding", { model: "e", input: "hello", dimensions: 3, encoding_format: "float" })).toEqual({ content: { parts: [{ text: "hello" }] }, outputDimensionality: 3 });
  });

  it("turns a list input into a BatchEmbedContentsRequest", () => {
    expect(openAIToGeminiRequest("embedding", { input: ["a", "b"] })).toEqual({ requests: [{ content: { parts: [{ text: "a" }] } }, { content: { parts: [{ text: "b" }] } }] });
  });

  it("rejects token-id inputs", () => {
    expect(rejection(() => openAIToGeminiRequest("embedding", { input: [[1, 2, 3]] })).param).toBe("input[0]");
  });
});
