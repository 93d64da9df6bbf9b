import { describe, expect, it } from "vitest";
import { anthropicToOpenAIRequest } from "../../../src/dialects/translate/anthropic-to-openai-request.ts";
import { anthropicToOpenAIResponse } from "../../../src/dialects/translate/anthropic-to-openai-response.ts";
import { translateReply, translateRequest } from "../../../src/dialects/translate/dialect-pairs.ts";
import { toDialectErrorBody } from "../../../src/dialects/translate/error-bodies.ts";
import { DEFAULT_MAX_TOKENS, openAIToAnthropicRequest } from "../../../src/dialects/translate/openai-to-anthropic-request.ts";
import { openAIToAnthropicResponse } from "../../../src/dialects/translate/openai-to-anthropic-response.ts";
import { TranslationError } from "../../../src/dialects/translate/translation-error.ts";

const rejects = (run: () => unknown, param: string | null, message: RegExp): void => {
  let caught: unknown;
  try {
    run();
  } catch (error) {
    caught = error;
  }
  expect(caught).toBeInstanceOf(TranslationError);
  expect((caught as TranslationError).param).toBe(param);
  expect((caught as TranslationError).message).toMatch(message);
};

describe("Anthropic request -> OpenAI chat body", () => {
  it("translates system blocks, sampling, metadata, tools, tool_choice, thinking and structured output", () => {
    const schema = { type: "object", properties: { city: { type: "string" } } };
    expect(
      anthropicToOpenAIRequest({
        model: "claude",
        max_tokens: 50,
        system: [{ type: "text", text: "One." }, { type: "text", text: "Two.", cache_control: { type: "ephemeral" } }],
        messages: [{ role: "user", content: "hi" }],
        temperature: 0.3,
        top_p: 0.9,
        top_k: 5,
        stop_sequences: ["x"],
        metadata: { user_id: "u1" },
        tools: [{ name: "weather", description: "d", input_schema: schema, strict: true, cache_control: { type: "ephemeral" } }],
        tool_choice: { type: "tool", name: "weather", disable_parallel_tool_use: true },
        thinking: { type: "enabled", budget_tokens: 4000 },
        output_config: { format: { type: "json_schema", schema } },
        service_tier: "auto",
        stream: false,
      }),
    ).toEqual({
      messages: [{ role: "system", content: "One.\nTwo." }, { role: "user", content: "hi" }],
      max_tokens: 50,
      temperature: 0.3,
      top_p: 0.9,
      top_k: 5,
      stop: ["x"],
      user: "u1",
      tools: [{ type: "function", function: { name: "weather", description: "d", parameters: schema, strict: true } }],
      tool_choice: { type: "function", function: { name: "weather" } },
      parallel_tool_calls: false,
      reasoning_effort: "medium",
      response_format: { type: "json_schema", json_schema: { name: "output", schema, strict: true } },
    });
  });

  it("turns tool_use into tool_calls and tool_result into tool messages ahead of the turn's text, dropping earlier thinking", () => {
    const body = anthropicToOpenAIRequest({
      max_tokens: 5,
      messages: [
        { role: "user", content: "go" },
        { role: "assistant", content: [{ type: "thinking", thinking: "hmm", signature: "s" }, { type: "text", text: "Calling." }, { type: "tool_use", id: "t1", name: "f", input: { a: 1 } }] },
        { role: "user", content: [{ type: "text", text: "after" }, { type: "tool_result", tool_use_id: "t1", is_error: true, content: [{ type: "text", text: "boom" }] }] },
      ],
    });
    expect(body.messages).toEqual([
      { role: "user", content: "go" },
      { role: "assistant", content: "Calling.", tool_calls: [{ id: "t1", type: "function", function: { name: "f", arguments: '{"a":1}' } }] },
      { role: "tool", tool_call_id: "t1", content: "Error: boom" },
      { role: "user", content: "after" },
    ]);
  });

  it("rejects by path what another engine cannot do: server tools, URL documents, file images, unknown fields", () => {
    const base = { max_tokens: 5, messages: [{ role: "user", content: "x" }] };
    rejects(() => anthropicToOpenAIRequest({ ...base, tools: [{ type: "bash_20250124", name: "bash" }] }), "tools.0.type", /server tool of Anthropic's service/);
    rejects(
      () => anthropicToOpenAIRequest({ max_tokens: 5, messages: [{ role: "user", content: [{ type: "document", source: { type: "url", url: "https://x/a.pdf" } }] }] }),
      "messages.0.content.0.source.type",
      /document source type "url"/,
    );
    rejects(() => anthropicToOpenAIRequest({ max_tokens: 5, messages: [{ role: "user", content: [{ type: "image", source: { type: "file", file_id: "f" } }] }] }), "messages.0.content.0.source.type", /file ids/);
    rejects(() => anthropicToOpenAIRequest({ ...base, container: "c1" }), "container", /no equivalent/);
    rejects(() => anthropicToOpenAIRequest({ ...base, output_config: { format: { type: "xml" } } }), "output_config.format.type", /json_schema/);
  });
});

describe("OpenAI chat body -> Anthropic request", () => {
  it("gathers system messages, merges consecutive tool answers into one user turn, and defaults max_tokens", () => {
    const body = openAIToAnthropicRequest("chat", {
      model: "m",
      seed: 7,
      messages: [
        { role: "developer", content: "Rules." },
        { role: "user", content: [{ type: "text", text: "see" }, { type: "image_url", image_url: { url: "data:image/jpeg;base64,AAAA" } }] },
        { role: "assistant", content: null, tool_calls: [{ id: "c1", type: "function", function: { name: "f", arguments: "{}" } }, { id: "c2", type: "function", function: { name: "g", arguments: '{"q":1}' } }] },
        { role: "tool", tool_call_id: "c1", content: "one" },
        { role: "tool", tool_call_id: "c2", content: "two" },
        { role: "system", content: "More rules." },
      ],
      parallel_tool_calls: false,
      response_format: { type: "json_schema", json_schema: { name: "n", schema: { type: "object" } } },
      reasoning_effort: "low",
    });
    expect(body).toEqual({
      max_tokens: DEFAULT_MAX_TOKENS,
      system: "Rules.\nMore rules.",
      messages: [
        { role: "user", content: [{ type: "text", text: "see" }, { type: "image", source: { type: "base64", media_type: "image/jpeg", data: "AAAA" } }] },
        { role: "assistant", content: [{ type: "tool_use", id: "c1", name: "f", input: {} }, { type: "tool_use", id: "c2", name: "g", input: { q: 1 } }] },
        { role: "user", content: [{ type: "tool_result", tool_use_id: "c1", content: "one" }, { type: "tool_result", tool_use_id: "c2", content: "two" }] },
      ],
      tool_choice: { type: "auto", disable_parallel_tool_use: true },
      output_config: { format: { type: "json_schema", schema: { type: "object" } }, effort: "low" },
    });
  });

  it("rejects what Anthropic models cannot be asked for, naming the field", () => {
    const base = { messages: [{ role: "user", content: "x" }] };
    rejects(() => openAIToAnthropicRequest("chat", { ...base, temperature: 1.5 }), "temperature", /above 1/);
    rejects(() => openAIToAnthropicRequest("chat", { ...base, n: 2 }), "n", /one answer per request/);
    rejects(() => openAIToAnthropicRequest("chat", { ...base, response_format: { type: "json_object" } }), "response_format.type", /use json_schema/);
    rejects(() => openAIToAnthropicRequest("chat", { ...base, frequency_penalty: 0.5 }), "frequency_penalty", /not supported/);
    rejects(() => openAIToAnthropicRequest("embedding", { input: "x" }), null, /messages only/);
  });
});

describe("replies", () => {
  it("OpenAI -> Anthropic: tool calls, stop reasons, thinking only when asked for, unparsable arguments kept", () => {
    const reply = {
      id: "chatcmpl-9",
      choices: [{ index: 0, finish_reason: "tool_calls", message: { role: "assistant", content: "ok", reasoning_content: "thought", tool_calls: [{ id: "c1", type: "function", function: { name: "f", arguments: "{not json" } }] } }],
      usage: { prompt_tokens: 10, completion_tokens: 4 },
    };
    const withThinking = openAIToAnthropicResponse(reply, { modelName: "claude", request: { thinking: { type: "enabled", budget_tokens: 2000 } } });
    expect(withThinking).toMatchObject({
      id: "msg_9",
      model: "claude",
      stop_reason: "tool_use",
      content: [{ type: "thinking", thinking: "thought" }, { type: "text", text: "ok" }, { type: "tool_use", id: "c1", name: "f", input: { _raw: "{not json" } }],
      usage: { input_tokens: 10, output_tokens: 4, cache_read_input_tokens: 0 },
    });
    expect((openAIToAnthropicResponse(reply, { modelName: "claude", request: {} }).content as { type: string }[]).map((block) => block.type)).toEqual(["text", "tool_use"]);
    const filtered = openAIToAnthropicResponse({ choices: [{ finish_reason: "content_filter", message: { content: "" } }] }, { modelName: "c" });
    expect(filtered).toMatchObject({ stop_reason: "refusal", content: [] });
    // A stop string the request did not ask for (an engine's own) is no stop_sequence.
    expect(openAIToAnthropicResponse({ choices: [{ finish_reason: "stop", stop_reason: "</s>", message: { content: "a" } }] }, { modelName: "c", request: { stop_sequences: ["x"] } })).toMatchObject({ stop_reason: "end_turn", stop_sequence: null });
  });

  it("Anthropic -> OpenAI: text joined, tool_use as tool_calls, cache tokens inside prompt_tokens", () => {
    const message = {
      id: "msg_1",
      content: [{ type: "thinking", thinking: "t" }, { type: "text", text: "a" }, { type: "text", text: "b" }, { type: "tool_use", id: "tu", name: "f", input: { x: 1 } }],
      stop_reason: "tool_use",
      stop_sequence: null,
      usage: { input_tokens: 3, output_tokens: 2, cache_read_input_tokens: 10, cache_creation_input_tokens: 5 },
    };
    expect(anthropicToOpenAIResponse(message, { modelName: "gpt", nowMs: 5_000 })).toEqual({
      id: "msg_1",
      object: "chat.completion",
      created: 5,
      model: "gpt",
      choices: [{ index: 0, message: { role: "assistant", content: "ab", reasoning_content: "t", refusal: null, tool_calls: [{ id: "tu", type: "function", function: { name: "f", arguments: '{"x":1}' } }] }, logprobs: null, finish_reason: "tool_calls" }],
      usage: { prompt_tokens: 18, completion_tokens: 2, total_tokens: 20, prompt_tokens_details: { cached_tokens: 10 } },
    });
    expect(anthropicToOpenAIResponse({ content: [], stop_reason: "stop_sequence", stop_sequence: "##" }, { modelName: "g" })).toMatchObject({ choices: [{ finish_reason: "stop", stop_reason: "##" }] });
  });
});

describe("pairs through the OpenAI shape", () => {
  it("takes a Gemini request to Anthropic and the Anthropic reply back to Gemini", () => {
    const gemini = { systemInstruction: { parts: [{ text: "Sys" }] }, contents: [{ role: "user", parts: [{ text: "hi" }] }], generationConfig: { maxOutputTokens: 12, topK: 3, stopSequences: ["q"] } };
    expect(translateRequest("gemini", "anthropic", "chat", gemini)).toEqual({ max_tokens: 12, system: "Sys", messages: [{ role: "user", content: "hi" }], top_k: 3, stop_sequences: ["q"] });
    const reply = { id: "msg_2", content: [{ type: "text", text: "hello" }], stop_reason: "max_tokens", usage: { input_tokens: 4, output_tokens: 12 } };
    expect(translateReply("anthropic", "gemini", "chat", reply, { modelName: "gem", request: gemini })).toMatchObject({
      candidates: [{ content: { role: "model", parts: [{ text: "hello" }] }, finishReason: "MAX_TOKENS" }],
      usageMetadata: { promptTokenCount: 4, candidatesTokenCount: 12, totalTokenCount: 16 },
      modelVersion: "gem",
    });
  });

  it("takes an Anthropic request to Gemini and the Gemini reply back to an Anthropic Message", () => {
    const anthropic = { max_tokens: 8, system: "S", messages: [{ role: "user", content: "q" }], stop_sequences: ["z"] };
    expect(translateRequest("anthropic", "gemini", "chat", anthropic)).toEqual({
      contents: [{ role: "user", parts: [{ text: "q" }] }],
      systemInstruction: { parts: [{ text: "S" }] },
      generationConfig: { maxOutputTokens: 8, stopSequences: ["z"] },
    });
    const reply = { candidates: [{ content: { role: "model", parts: [{ text: "a" }] }, finishReason: "STOP" }], usageMetadata: { promptTokenCount: 6, candidatesTokenCount: 1, cachedContentTokenCount: 4 } };
    expect(translateReply("gemini", "anthropic", "chat", reply, { modelName: "claude", request: anthropic })).toMatchObject({
      type: "message",
      content: [{ type: "text", text: "a" }],
      stop_reason: "end_turn",
      usage: { input_tokens: 2, cache_read_input_tokens: 4, output_tokens: 1 },
    });
  });
});

describe("error bodies", () => {
  it("re-expresses envelopes between the three dialects, keeping what named the failure", () => {
    const anthropic = { type: "error", error: { type: "overloaded_error", message: "Overloaded" }, request_id: "r" };
    expect(toDialectErrorBody("anthropic", 529, anthropic)).toBe(anthropic);
    expect(toDialectErrorBody("openai", 529, anthropic)).toEqual({ error: { message: "Overloaded", type: "server_error", param: null, code: "overloaded_error" } });
    expect(toDialectErrorBody("gemini", 529, anthropic)).toMatchObject({ error: { code: 529, message: "Overloaded" } });
    expect(toDialectErrorBody("anthropic", 429, { error: { message: "slow down", type: "rate_limit_error", param: null, code: null } })).toEqual({
      type: "error",
      error: { type: "rate_limit_error", message: "slow down" },
      request_id: null,
    });
    expect(toDialectErrorBody("anthropic", 400, { error: { code: 400, message: "bad", status: "INVALID_ARGUMENT" } })).toMatchObject({ error: { type: "invalid_request_error", message: "bad" } });
    expect(toDialectErrorBody("anthropic", 502, "upstream text")).toMatchObject({ error: { type: "api_error", message: "upstream text" } });
  });
});
