/**
 * Gemini GenerateContentRequest / EmbedContentRequest -> OpenAI bodies: every field translated, or
 * rejected with a TranslationError naming its path.
 */
import { describe, expect, it } from "vitest";
import { geminiToOpenAIRequest } from "../../../src/dialects/translate/gemini-to-openai-request.ts";
import { TranslationError } from "../../../src/dialects/translate/translation-error.ts";

function chat(body: Record<string, unknown>) {
  return geminiToOpenAIRequest("chat", body);
}

function rejection(run: () => unknown): TranslationError {
  try {
    run();
  } catch (error) {
    expect(error).toBeInstanceOf(TranslationError);
    return error as TranslationError;
  }
  throw new Error("expected a TranslationError");
}

const hello = [{ role: "user", parts: [{ text: "Hello" }] }];

describe("geminiToOpenAIRequest (chat)", () => {
  it("turns a multi-turn conversation into user/assistant messages, system instruction first", () => {
    const body = chat({
      model: "models/gemini-2.5-flash",
      systemInstruction: { parts: [{ text: "Be terse." }, { text: "Answer in English." }] },
      contents: [
        { role: "user", parts: [{ text: "Describe:" }, { text: "photosynthesis" }] },
        { role: "model", parts: [{ text: "Plants " }, { text: "make sugar." }] },
        { parts: [{ text: "Shorter?" }] },
      ],
    });
    expect(body).toEqual({
      messages: [
        { role: "system", content: "Be terse.\nAnswer in English." },
        { role: "user", content: "Describe:\nphotosynthesis" },
        { role: "assistant", content: "Plants make sugar." },
        { role: "user", content: "Shorter?" },
      ],
    });
    expect(body).not.toHaveProperty("model");
  });

  it("accepts snake_case field names the way protobuf JSON does", () => {
    const body = chat({
      system_instruction: { parts: [{ text: "sys" }] },
      contents: [{ role: "user", parts: [{ inline_data: { mime_type: "image/png", data: "iVBORw0" } }, { text: "what is this?" }] }],
      generation_config: { max_output_tokens: 50, top_p: 0.5, stop_sequences: ["END"], response_mime_type: "application/json" },
    });
    expect(body.messages).toEqual([
      { role: "system", content: "sys" },
      { role: "user", content: [{ type: "image_url", image_url: { url: "data:image/png;base64,iVBORw0" } }, { type: "text", text: "what is this?" }] },
    ]);
    expect(body).toMatchObject({ max_tokens: 50, top_p: 0.5, stop: ["END"], response_format: { type: "json_object" } });
  });

  it.each([
    ["camelCase", { temperature: 0.3, topP: 0.9, topK: 40, candidateCount: 2, maxOutputTokens: 256, stopSequences: ["x", "y"], presencePenalty: 0.1, frequencyPenalty: 0.2, seed: 7, responseLogprobs: true, logprobs: 3 }],
    ["snake_case", { temperature: 0.3, top_p: 0.9, top_k: 40, candidate_count: 2, max_output_tokens: 256, stop_sequences: ["x", "y"], presence_penalty: 0.1, frequency_penalty: 0.2, seed: 7, response_logprobs: true, logprobs: 3 }],
  ])("maps every sampling field of generationConfig (%s)", (_case, generationConfig) => {
    expect(chat({ contents: hello, generationConfig })).toEqual({
      messages: [{ role: "user", content: "Hello" }],
      temperature: 0.3,
      top_p: 0.9,
      top_k: 40,
      n: 2,
      max_tokens: 256,
      stop: ["x", "y"],
      presence_penalty: 0.1,
      frequency_penalty: 0.2,
      seed: 7,
      logprobs: true,
      top_logprobs: 3,
    });
  });

  it("maps thinkingLevel to reasoning_effort and accepts a thinking budget and TEXT modality", () => {
    const body = chat({ contents: hello, generationConfig: { thinkingConfig: { thinkingLevel: "LOW", thinkingBudget: 1024, includeThoughts: true }, responseModalities: ["TEXT"] } });
    expect(body.reasoning_effort).toBe("low");
  });

  it("passes responseJsonSchema through as a json_schema response_format", () => {
    const schema = { type: "object", properties: { answer: { type: "string" } }, required: ["answer"], additionalProperties: false };
    const body = chat({ contents: hello, generationConfig: { responseMimeType: "application/json", responseJsonSchema: schema } });
    expect(body.response_format).toEqual({ type: "json_schema", json_schema: { name: "response", schema } });
  });

  it("converts an OpenAPI responseSchema (snake_case, upper-case types) to JSON Schema", () => {
    const body = chat({
      contents: hello,
      generation_config: {
        response_mime_type: "application/json",
        response_schema: {
          type: "ARRAY",
          items: {
            type: "OBJECT",
            properties: { recipe_name: { type: "STRING", description: "name" }, rating: { type: "INTEGER", nullable: true, minimum: 1 } },
            required: ["recipe_name"],
            property_ordering: ["rating", "recipe_name"],
          },
          max_items: "3",
        },
      },
    });
    const format = body.response_format as { json_schema: { schema: { items: { properties: object } } } };
    expect(format).toEqual({
      type: "json_schema",
      json_schema: {
        name: "response",
        schema: {
          type: "array",
          maxItems: 3,
          items: {
            type: "object",
            properties: { rating: { type: ["integer", "null"], minimum: 1 }, recipe_name: { type: "string", description: "name" } },
            required: ["recipe_name"],
          },
        },
      },
    });
    expect(Object.keys(format.json_schema.schema.items.properties)).toEqual(["rating", "recipe_name"]);
  });

  it("asks for a text/x.enum answer as a strict one-property object", () => {
    const body = chat({ contents: hello, generationConfig: { responseMimeType: "text/x.enum", responseSchema: { type: "STRING", enum: ["positive", "negative"] } } });
    expect(body.response_format).toEqual({
      type: "json_schema",
      json_schema: {
        name: "response",
        strict: true,
        schema: { type: "object", properties: { value: { type: "string", enum: ["positive", "negative"] } }, required: ["value"], additionalProperties: false },
      },
    });
  });

  it("turns function calls and responses into tool_calls and tool messages with matching ids", () => {
    const body = chat({
      contents: [
        { role: "user", parts: [{ text: "Weather in Paris and Rome?" }] },
        { role: "model", parts: [{ functionCall: { name: "weather", args: { city: "Paris" } } }, { functionCall: { name: "weather", args: { city: "Rome" } }, thoughtSignature: "sig" }] },
        { role: "user", parts: [{ functionResponse: { name: "weather", response: { temp: 20 } } }, { functionResponse: { name: "weather", response: { temp: 25 } } }] },
      ],
      tools: [{ functionDeclarations: [{ name: "weather", description: "Current weather", parameters: { type: "OBJECT", properties: { city: { type: "STRING" } }, required: ["city"] } }] }],
      toolConfig: { functionCallingConfig: { mode: "ANY", allowedFunctionNames: ["weather"] } },
    });
    expect(body.messages).toEqual([
      { role: "user", content: "Weather in Paris and Rome?" },
      {
        role: "assistant",
        content: null,
        tool_calls: [
          { id: "call_0", type: "function", function: { name: "weather", arguments: '{"city":"Paris"}' } },
          { id: "call_1", type: "function", function: { name: "weather", arguments: '{"city":"Rome"}' } },
        ],
      },
      { role: "tool", tool_call_id: "call_0", content: '{"temp":20}' },
      { role: "tool", tool_call_id: "call_1", content: '{"temp":25}' },
    ]);
    expect(body.tools).toEqual([
      { type: "function", function: { name: "weather", description: "Current weather", parameters: { type: "object", properties: { city: { type: "string" } }, required: ["city"] } } },
    ]);
    expect(body.tool_choice).toEqual({ type: "function", function: { name: "weather" } });
  });

  it("drops thought parts of earlier model turns", () => {
    const body = chat({ contents: [...hello, { role: "model", parts: [{ text: "thinking...", thought: true }, { text: "Hi" }] }, ...hello] });
    expect((body.messages as unknown[])[1]).toEqual({ role: "assistant", content: "Hi" });
  });

  it.each([
    [{ generationConfig: { responseModalities: ["TEXT", "AUDIO"] } }, "request.generationConfig.responseModalities"],
    [{ generation_config: { response_modalities: ["IMAGE"] } }, "request.generationConfig.responseModalities"],
    [{ generationConfig: { speechConfig: { voiceConfig: {} } } }, "request.generationConfig.speechConfig"],
    [{ cachedContent: "cachedContents/abc" }, "request.cachedContent"],
    [{ tools: [{ googleSearch: {} }] }, "request.tools[0].googleSearch"],
    [{ tools: [{ code_execution: {} }] }, "request.tools[0].codeExecution"],
    [{ contents: [{ role: "user", parts: [{ fileData: { fileUri: "https://generativelanguage.googleapis.com/v1beta/files/abc", mimeType: "image/png" } }] }] }, "request.contents[0].parts[0].fileData"],
    [{ contents: [{ role: "user", parts: [{ inlineData: { mimeType: "video/mp4", data: "AAAA" } }] }] }, "request.contents[0].parts[0].inlineData.mimeType"],
    [{ generationConfig: { responseMimeType: "text/x.enum" } }, "request.generationConfig.responseSchema"],
    [{ generationConfig: { responseMimeType: "application/json", responseSchema: { type: "STRING" }, responseJsonSchema: { type: "string" } } }, "request.generationConfig.responseJsonSchema"],
    [{ generationConfig: { responseMimeType: "application/json", responseSchema: { type: "OBJECT", properties: { a: { type: "STRING", unknownKeyword: 1 } } } } }, "request.generationConfig.responseSchema.properties.a.unknownKeyword"],
    [{ someFutureField: true }, "request.someFutureField"],
  ])("rejects what an OpenAI-shaped engine cannot do, naming the field (%#)", (extra, param) => {
    const error = rejection(() => chat({ contents: hello, ...extra }));
    expect(error.param).toBe(param);
    expect(error.message.length).toBeGreaterThan(10);
  });

  it("rejects a functionResponse that answers no earlier call", () => {
    const error = rejection(() => chat({ contents: [{ role: "user", parts: [{ functionResponse: { name: "f", response: {} } }] }] }));
    expect(error.param).toBe("request.contents[0].parts[0].functionResponse");
  });

  it("has no completion form", () => {
    expect(rejection(() => geminiToOpenAIRequest("completion", { contents: hello }))).toBeInstanceOf(TranslationError);
  });
});

describe("geminiToOpenAIRequest (embedding)", () => {
  it("maps content and outputDimensionality (snake_case) and asks for float vectors", () => {
    expect(geminiToOpenAIRequest("embedding", { output_dimensionality: 3, content: { parts: [{ text: "1" }] } })).toEqual({ input: "1", dimensions: 3, encoding_format: "float" });
  });

  it("drops taskType and keeps a document title by prepending it", () => {
    const body = geminiToOpenAIRequest("embedding", { taskType: "RETRIEVAL_DOCUMENT", title: "Photosynthesis", content: { parts: [{ text: "Plants make sugar." }] } });
    expect(body).toEqual({ input: "Photosynthesis\n\nPlants make sugar.", encoding_format: "float" });
  });

  it("turns a batchEmbedContents body into one list input", () => {
    const body = geminiToOpenAIRequest("embedding", { requests: [{ model: "models/e", content: { parts: [{ text: "a" }] }, outputDimensionality: 4 }, { content: { parts: [{ text: "b" }] }, outputDimensionality: 4 }] });
    expect(body).toEqual({ input: ["a", "b"], dimensions: 4, encoding_format: "float" });
  });

  it("rejects non-text embedding parts, naming the part", () => {
    const error = rejection(() => geminiToOpenAIRequest("embedding", { content: { parts: [{ inlineData: { mimeType: "image/png", data: "AA" } }] } }));
    expect(error.param).toBe("request.content.parts[0]");
  });
});
