/**
 * Synchronous `POST /v1/messages` and `/v1/messages/count_tokens` through the real `@anthropic-ai/sdk`, on an
 * OpenAI-compatible upstream (translated both ways): content blocks, tools, stop sequences, usage, errors.
 */
import Anthropic, { APIError, AuthenticationError, BadRequestError, NotFoundError, RateLimitError } from "@anthropic-ai/sdk";
import type { RawMessageStreamEvent } from "@anthropic-ai/sdk/resources/messages/messages";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startFakeOpenAIUpstream, type FakeOpenAIUpstream } from "../../helpers/fake-openai-upstream.ts";
import { startAnthropicTestApp, type AnthropicTestApp } from "./anthropic-test-app.ts";

let upstream: FakeOpenAIUpstream;
let spool: AnthropicTestApp;
const MODEL = "claude-on-openai";

beforeAll(async () => {
  upstream = await startFakeOpenAIUpstream({ record: true });
  spool = await startAnthropicTestApp(
    { apiKeys: ["sk-ant-test"], models: [{ name: MODEL, engine: "openai", baseUrl: upstream.url, concurrency: 2, maxRetries: 0 }] },
    { label: "anthropic-messages", workers: false },
  );
});

afterAll(async () => {
  await spool?.stop();
  await upstream?.close();
});

/** The next upstream call answers with this chat.completion choice (and usage). */
function answerNextWith(choice: Record<string, unknown>, usage: Record<string, unknown> = { prompt_tokens: 30, completion_tokens: 5 }): void {
  upstream.setFault(() => ({ status: 200, body: { id: "chatcmpl-scripted", object: "chat.completion", created: 1, model: "m", choices: [{ index: 0, logprobs: null, ...choice }], usage } }));
}

describe("Anthropic sync messages", () => {
  it("answers a Messages request with content blocks, translating system, images and documents for the upstream", async () => {
    const message = await spool.client.messages.create({
      model: MODEL,
      max_tokens: 32,
      system: "You are terse.",
      messages: [
        { role: "user", content: [{ type: "text", text: "Look:" }, { type: "image", source: { type: "base64", media_type: "image/png", data: "iVBORw0KGgo=" } }] },
        { role: "assistant", content: "An image." },
        { role: "user", content: [{ type: "document", source: { type: "text", media_type: "text/plain", data: "The doc." }, title: "Notes" }, { type: "text", text: "and this" }] },
      ],
    });
    expect(message).toMatchObject({ type: "message", role: "assistant", model: MODEL, stop_reason: "end_turn", stop_sequence: null });
    expect(message.id).toMatch(/^msg_/);
    expect(message.content).toEqual([{ type: "text", text: "echo: Notes\n\nThe doc.\nand this", citations: null }]);
    expect(message.usage.input_tokens).toBeGreaterThan(0);
    expect(upstream.lastRequest?.body.messages).toEqual([
      { role: "system", content: "You are terse." },
      { role: "user", content: [{ type: "text", text: "Look:" }, { type: "image_url", image_url: { url: "data:image/png;base64,iVBORw0KGgo=" } }] },
      { role: "assistant", content: "An image." },
      { role: "user", content: "Notes\n\nThe doc.\nand this" },
    ]);
  });

  it("turns upstream tool calls into tool_use blocks, and tool_result blocks into tool messages", async () => {
    const tools = [{ name: "get_weather", description: "Weather of a city", input_schema: { type: "object" as const, properties: { city: { type: "string" } }, required: ["city"] } }];
    answerNextWith({ message: { role: "assistant", content: null, tool_calls: [{ id: "call_1", type: "function", function: { name: "get_weather", arguments: '{"city":"Paris"}' } }] }, finish_reason: "tool_calls" });
    try {
      const first = await spool.client.messages.create({ model: MODEL, max_tokens: 64, tools, tool_choice: { type: "any", disable_parallel_tool_use: true }, messages: [{ role: "user", content: "Weather in Paris?" }] });
      expect(first.stop_reason).toBe("tool_use");
      expect(first.content).toEqual([{ type: "tool_use", id: "call_1", name: "get_weather", input: { city: "Paris" }, caller: { type: "direct" } }]);
      expect(upstream.lastRequest?.body).toMatchObject({
        tools: [{ type: "function", function: { name: "get_weather", description: "Weather of a city", parameters: tools[0]!.input_schema } }],
        tool_choice: "required",
        parallel_tool_calls: false,
      });
    } finally {
      upstream.setFault(null);
    }
    const second = await spool.client.messages.create({
      model: MODEL,
      max_tokens: 64,
      tools,
      messages: [
        { role: "user", content: "Weather in Paris?" },
        { role: "assistant", content: [{ type: "tool_use", id: "call_1", name: "get_weather", input: { city: "Paris" } }] },
        { role: "user", content: [{ type: "tool_result", tool_use_id: "call_1", content: "18 C, sunny" }, { type: "text", text: "Summarize." }] },
      ],
    });
    expect(second.content).toEqual([{ type: "text", text: "echo: Summarize.", citations: null }]);
    expect(upstream.lastRequest?.body.messages).toEqual([
      { role: "user", content: "Weather in Paris?" },
      { role: "assistant", content: null, tool_calls: [{ id: "call_1", type: "function", function: { name: "get_weather", arguments: '{"city":"Paris"}' } }] },
      { role: "tool", tool_call_id: "call_1", content: "18 C, sunny" },
      { role: "user", content: "Summarize." },
    ]);
  });

  it("reports the stop sequence the upstream names, max_tokens for length, and cache reads apart from input", async () => {
    answerNextWith({ message: { role: "assistant", content: "partial" }, finish_reason: "stop", stop_reason: "END" }, { prompt_tokens: 40, completion_tokens: 3, prompt_tokens_details: { cached_tokens: 32 } });
    try {
      const stopped = await spool.client.messages.create({ model: MODEL, max_tokens: 8, stop_sequences: ["END", "STOP"], messages: [{ role: "user", content: "go" }] });
      expect(stopped).toMatchObject({ stop_reason: "stop_sequence", stop_sequence: "END" });
      expect(stopped.usage).toMatchObject({ input_tokens: 8, cache_read_input_tokens: 32, cache_creation_input_tokens: 0, output_tokens: 3 });
      expect(upstream.lastRequest?.body.stop).toEqual(["END", "STOP"]);
      answerNextWith({ message: { role: "assistant", content: "cut" }, finish_reason: "length" });
      expect((await spool.client.messages.create({ model: MODEL, max_tokens: 1, messages: [{ role: "user", content: "go" }] })).stop_reason).toBe("max_tokens");
    } finally {
      upstream.setFault(null);
    }
  });

  it("counts tokens by running the prompt with max_tokens 1 on the model's engine", async () => {
    const counted = await spool.client.messages.countTokens({ model: MODEL, system: "sys", messages: [{ role: "user", content: "count these words" }] });
    const sent = upstream.lastRequest?.body;
    expect(sent).toMatchObject({ max_tokens: 1, messages: [{ role: "system", content: "sys" }, { role: "user", content: "count these words" }] });
    // The fake upstream counts 4 + length/4 per message: what it reported is what count_tokens returns.
    expect(counted).toEqual({ input_tokens: 4 + Math.ceil(3 / 4) + 4 + Math.ceil("count these words".length / 4) });
  });

  it("refuses bad requests in Anthropic's envelope: the field for a 400, the model list for a 404", async () => {
    const bad = await spool.client.messages.create({ model: MODEL, messages: [{ role: "robot", content: "x" }] } as never).catch((caught: unknown) => caught);
    expect(bad).toBeInstanceOf(BadRequestError);
    expect((bad as BadRequestError).type).toBe("invalid_request_error");
    expect((bad as BadRequestError).apiMessage).toContain("max_tokens: Field required");
    expect((bad as BadRequestError).apiMessage).toContain('messages.0.role: must be "user", "assistant" or "system"');

    const unknown = await spool.client.messages.create({ model: "claude-nope", max_tokens: 5, messages: [{ role: "user", content: "x" }] }).catch((caught: unknown) => caught);
    expect(unknown).toBeInstanceOf(NotFoundError);
    expect((unknown as NotFoundError).apiMessage).toContain(`Configured models: ${MODEL}.`);

    const untranslatable = await spool.client.messages
      .create({ model: MODEL, max_tokens: 5, tools: [{ type: "web_search_20250305", name: "web_search" }], messages: [{ role: "user", content: "x" }] })
      .catch((caught: unknown) => caught);
    expect(untranslatable).toBeInstanceOf(BadRequestError);
    expect((untranslatable as BadRequestError).apiMessage).toMatch(/^tools\.0\.type: The "web_search_20250305" tool is a server tool of Anthropic's service/);
  });

  it("streams a message as Anthropic's named events, translated from the upstream's OpenAI chunks", async () => {
    const stream = await spool.client.messages.create({ model: MODEL, max_tokens: 20, stream: true, system: "sys", messages: [{ role: "user", content: "streamed hello" }] });
    const events: RawMessageStreamEvent[] = [];
    for await (const event of stream) events.push(event);
    expect(events.map((event) => event.type)).toEqual([
      "message_start",
      "content_block_start",
      ...Array(events.length - 5).fill("content_block_delta"),
      "content_block_stop",
      "message_delta",
      "message_stop",
    ]);
    const text = events.map((event) => (event.type === "content_block_delta" && event.delta.type === "text_delta" ? event.delta.text : "")).join("");
    expect(text).toBe("echo: streamed hello");
    expect(events.at(-2)).toMatchObject({ delta: { stop_reason: "end_turn" }, usage: { output_tokens: expect.any(Number), input_tokens: expect.any(Number) } });
    const delta = events.at(-2);
    expect(delta?.type === "message_delta" ? delta.usage.input_tokens : 0).toBeGreaterThan(0);
    // The upstream was asked to stream, and for the usage it reports last.
    expect(upstream.lastRequest?.body).toMatchObject({ stream: true, stream_options: { include_usage: true }, messages: [{ role: "system", content: "sys" }, { role: "user", content: "streamed hello" }] });
  });

  it("streams tool calls as tool_use blocks whose input arrives in input_json_delta pieces", async () => {
    const final = await spool.client.messages
      .stream({ model: MODEL, max_tokens: 20, tool_choice: { type: "any" }, tools: [{ name: "echo_tool", input_schema: { type: "object" } }], messages: [{ role: "user", content: "call it" }] })
      .finalMessage();
    expect(final.stop_reason).toBe("tool_use");
    expect(final.content).toMatchObject([{ type: "tool_use", name: "echo_tool", input: { text: "call it" } }]);
  });

  it("reports a failure after the stream began as an error event, which the SDK throws", async () => {
    upstream.setFault(() => ({ streamErrorAfter: 2 }));
    try {
      const stream = await spool.client.messages.create({ model: MODEL, max_tokens: 20, stream: true, messages: [{ role: "user", content: "this will break" }] });
      const seen: string[] = [];
      const failure = await (async () => {
        for await (const event of stream) seen.push(event.type);
      })().catch((caught: unknown) => caught);
      expect(seen[0]).toBe("message_start");
      expect(failure).toBeInstanceOf(APIError);
      expect((failure as APIError).type).toBe("api_error");
      expect((failure as APIError).message).toMatch(/error while streaming/);
    } finally {
      upstream.setFault(null);
    }
  });

  it("takes the key from x-api-key as older SDKs and curl send it, and refuses a wrong one with an AuthenticationError", async () => {
    const response = await fetch(`${spool.url}/v1/messages`, {
      method: "POST",
      headers: { "x-api-key": "sk-ant-test", "anthropic-version": "2023-06-01", "content-type": "application/json" },
      body: JSON.stringify({ model: MODEL, max_tokens: 5, messages: [{ role: "user", content: "curl" }] }),
    });
    expect(response.status).toBe(200);
    expect(response.headers.get("request-id")).toMatch(/^req_/);
    expect(((await response.json()) as { content: unknown }).content).toEqual([{ type: "text", text: "echo: curl", citations: null }]);
    const wrong = new Anthropic({ apiKey: "sk-ant-wrong", baseURL: spool.url, maxRetries: 0 });
    const denied = await wrong.messages.create({ model: MODEL, max_tokens: 5, messages: [{ role: "user", content: "x" }] }).catch((caught: unknown) => caught);
    expect(denied).toBeInstanceOf(AuthenticationError);
    expect((denied as AuthenticationError).type).toBe("authentication_error");
  });

  // Last: the Dispatcher holds the Model back for the Retry-After the upstream asked for.
  it("passes an upstream rate limit on as a RateLimitError with its retry-after", async () => {
    upstream.setFault(() => ({ status: 429, retryAfter: "7" }));
    try {
      const limited = await spool.client.messages.create({ model: MODEL, max_tokens: 5, messages: [{ role: "user", content: "x" }] }).catch((caught: unknown) => caught);
      expect(limited).toBeInstanceOf(RateLimitError);
      expect((limited as RateLimitError).type).toBe("rate_limit_error");
      expect((limited as RateLimitError).headers.get("retry-after")).toBe("7");
    } finally {
      upstream.setFault(null);
    }
  });
});
