import { describe, expect, it } from "vitest";
import { AnthropicToOpenAIStream } from "../../../src/dialects/translate/stream-anthropic-to-openai.ts";
import { OpenAIToAnthropicStream } from "../../../src/dialects/translate/stream-openai-to-anthropic.ts";
import type { JsonObject } from "../../../src/dialects/translate/json-fields.ts";

const chunk = (delta: JsonObject, finish: string | null = null, extra: JsonObject = {}): JsonObject => ({ id: "chatcmpl-7", object: "chat.completion.chunk", choices: [{ index: 0, delta, finish_reason: finish, ...extra }] });

function run(translator: { chunk(data: JsonObject): JsonObject[]; end(): JsonObject[] }, chunks: JsonObject[]): JsonObject[] {
  return [...chunks.flatMap((each) => translator.chunk(each)), ...translator.end()];
}

describe("OpenAI chunks -> Anthropic stream events", () => {
  it("opens the message, streams text as one block, and ends with stop reason and usage", () => {
    const events = run(new OpenAIToAnthropicStream("claude", { stop_sequences: ["##"] }), [
      chunk({ role: "assistant", content: "" }),
      chunk({ content: "Hel" }),
      chunk({ content: "lo" }),
      chunk({}, "stop", { stop_reason: "##" }),
      { id: "chatcmpl-7", choices: [], usage: { prompt_tokens: 12, completion_tokens: 2, prompt_tokens_details: { cached_tokens: 8 } } },
    ]);
    expect(events.map((event) => event.type)).toEqual(["message_start", "content_block_start", "content_block_delta", "content_block_delta", "content_block_stop", "message_delta", "message_stop"]);
    expect(events[0]).toMatchObject({ message: { id: "msg_7", type: "message", role: "assistant", model: "claude", content: [], stop_reason: null } });
    expect(events[1]).toEqual({ type: "content_block_start", index: 0, content_block: { type: "text", text: "", citations: null } });
    expect(events.slice(2, 4).map((event) => (event.delta as { text: string }).text).join("")).toBe("Hello");
    expect(events[5]).toMatchObject({ delta: { stop_reason: "stop_sequence", stop_sequence: "##" }, usage: { input_tokens: 4, cache_read_input_tokens: 8, output_tokens: 2 } });
  });

  it("turns reasoning into a thinking block when asked for, and streamed tool call arguments into input_json_delta", () => {
    const events = run(new OpenAIToAnthropicStream("claude", { thinking: { type: "enabled", budget_tokens: 2048 } }), [
      chunk({ reasoning_content: "hmm" }),
      chunk({ content: "Let me look." }),
      chunk({ tool_calls: [{ index: 0, id: "call_a", type: "function", function: { name: "f", arguments: '{"x"' } }] }),
      chunk({ tool_calls: [{ index: 0, function: { arguments: ":1}" } }] }),
      chunk({ tool_calls: [{ index: 1, id: "call_b", type: "function", function: { name: "g", arguments: "{}" } }] }),
      chunk({}, "tool_calls"),
    ]);
    const blocks = events.filter((event) => event.type === "content_block_start").map((event) => event.content_block as JsonObject);
    expect(blocks).toEqual([
      { type: "thinking", thinking: "", signature: "" },
      { type: "text", text: "", citations: null },
      { type: "tool_use", id: "call_a", name: "f", input: {}, caller: { type: "direct" } },
      { type: "tool_use", id: "call_b", name: "g", input: {}, caller: { type: "direct" } },
    ]);
    const jsonOf = (index: number) => events.filter((event) => event.type === "content_block_delta" && event.index === index).map((event) => (event.delta as { partial_json: string }).partial_json).join("");
    expect(JSON.parse(jsonOf(2))).toEqual({ x: 1 });
    expect(events.filter((event) => event.type === "content_block_stop").map((event) => event.index)).toEqual([0, 1, 2, 3]);
    expect(events.at(-2)).toMatchObject({ type: "message_delta", delta: { stop_reason: "tool_use" } });
  });

  it("leaves reasoning out when thinking was not asked for, and still ends an empty stream properly", () => {
    expect(run(new OpenAIToAnthropicStream("c", {}), [chunk({ reasoning_content: "hidden" }), chunk({}, "length")]).map((event) => event.type)).toEqual(["message_start", "message_delta", "message_stop"]);
    expect(run(new OpenAIToAnthropicStream("c", {}), []).map((event) => event.type)).toEqual(["message_start", "message_delta", "message_stop"]);
  });
});

describe("Anthropic stream events -> OpenAI chunks", () => {
  const events: JsonObject[] = [
    { type: "message_start", message: { id: "msg_1", usage: { input_tokens: 9, output_tokens: 1, cache_read_input_tokens: 3 } } },
    { type: "ping" },
    { type: "content_block_start", index: 0, content_block: { type: "text", text: "" } },
    { type: "content_block_delta", index: 0, delta: { type: "text_delta", text: "Hi" } },
    { type: "content_block_stop", index: 0 },
    { type: "content_block_start", index: 1, content_block: { type: "tool_use", id: "toolu_1", name: "f", input: {} } },
    { type: "content_block_delta", index: 1, delta: { type: "input_json_delta", partial_json: '{"a":' } },
    { type: "content_block_delta", index: 1, delta: { type: "input_json_delta", partial_json: "2}" } },
    { type: "content_block_stop", index: 1 },
    { type: "message_delta", delta: { stop_reason: "tool_use", stop_sequence: null }, usage: { output_tokens: 14 } },
    { type: "message_stop" },
  ];

  it("gives the role, content and tool call deltas, the finish reason, and the usage chunk when asked for", () => {
    const chunks = run(new AnthropicToOpenAIStream("gpt", true), events);
    const deltas = chunks.filter((each) => (each.choices as unknown[]).length > 0).map((each) => (each.choices as JsonObject[])[0]!);
    expect(deltas.map((choice) => choice.delta)).toEqual([
      { role: "assistant", content: "" },
      { content: "Hi" },
      { tool_calls: [{ index: 0, id: "toolu_1", type: "function", function: { name: "f", arguments: "" } }] },
      { tool_calls: [{ index: 0, function: { arguments: '{"a":' } }] },
      { tool_calls: [{ index: 0, function: { arguments: "2}" } }] },
      {},
    ]);
    expect(deltas.at(-1)?.finish_reason).toBe("tool_calls");
    expect(chunks.every((each) => each.id === "msg_1" && each.object === "chat.completion.chunk" && each.model === "gpt")).toBe(true);
    expect(chunks.at(-1)).toMatchObject({ choices: [], usage: { prompt_tokens: 12, completion_tokens: 14, total_tokens: 26, prompt_tokens_details: { cached_tokens: 3 } } });
    expect(chunks.slice(0, -1).every((each) => each.usage === null)).toBe(true);
  });

  it("sends no usage chunk (nor usage fields) when the client did not ask for it", () => {
    const chunks = run(new AnthropicToOpenAIStream("gpt", false), events);
    expect(chunks.every((each) => !("usage" in each))).toBe(true);
    expect(chunks.at(-1)).toMatchObject({ choices: [{ finish_reason: "tool_calls" }] });
  });
});
