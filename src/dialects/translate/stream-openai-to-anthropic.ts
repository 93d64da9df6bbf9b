/**
 * OpenAI `chat.completion.chunk`s -> Anthropic Messages stream events, for an Anthropic client
 * (`stream: true`) served by an OpenAI-shaped Engine (and, after the Gemini -> OpenAI stream translator, by
 * the gemini Engine). One translator per stream, fed chunk by chunk; each event's `type` is also its SSE event
 * name. The order is Anthropic's: `message_start`, then per content block `content_block_start`, its deltas
 * and `content_block_stop` (reasoning as a thinking block, text as a text block, each tool call as a tool_use
 * block whose arguments arrive as `input_json_delta`s), then `message_delta` (stop_reason, usage) and
 * `message_stop`. Only the first choice is followed (an Anthropic request cannot ask for more).
 *
 * Usage arrives last on an OpenAI stream (the Engine is asked for it), so `message_start` carries zero input
 * tokens and `message_delta` the real counts, input included (its usage fields allow that).
 */
import { randomUUID } from "node:crypto";
import { asArray, asNumber, asObject, asString, isObject, type JsonObject } from "./json-fields.ts";
import { STOP_REASONS, toAnthropicUsage } from "./openai-to-anthropic-response.ts";

type OpenBlock = { kind: "thinking" | "text" } | { kind: "tool"; call: number };

export class OpenAIToAnthropicStream {
  private started = false;
  private index = -1;
  private open: OpenBlock | null = null;
  private finishReason: string | null = null;
  private stopString: string | null = null;
  private usage: JsonObject | null = null;
  private sawToolCall = false;
  private readonly thinking: boolean;

  constructor(
    private readonly modelName: string,
    private readonly request: JsonObject,
  ) {
    const config = asObject(request.thinking);
    this.thinking = config !== undefined && config.type !== "disabled";
  }

  chunk(data: JsonObject): JsonObject[] {
    const out = this.start(asString(data.id));
    if (isObject(data.usage)) this.usage = data.usage;
    const choice = asArray(data.choices).filter(isObject).find((each) => (asNumber(each.index) ?? 0) === 0);
    if (!choice) return out;
    const delta = asObject(choice.delta) ?? {};
    const reasoning = asString(delta.reasoning_content) ?? asString(delta.reasoning);
    if (reasoning && this.thinking) out.push(...this.into("thinking"), this.delta({ type: "thinking_delta", thinking: reasoning }));
    const text = asString(delta.content);
    if (text) out.push(...this.into("text"), this.delta({ type: "text_delta", text }));
    for (const call of asArray(delta.tool_calls).filter(isObject)) out.push(...this.toolCall(call));
    const reason = asString(choice.finish_reason);
    if (reason !== undefined) this.finishReason = reason;
    const matched = asString(choice.stop_reason);
    if (matched !== undefined) this.stopString = matched;
    return out;
  }

  end(): JsonObject[] {
    const out = [...this.start(undefined), ...this.close()];
    const asked = asArray(this.request.stop_sequences);
    const stopSequence = this.stopString !== null && asked.includes(this.stopString) ? this.stopString : null;
    const reason = stopSequence !== null ? "stop_sequence" : this.finishReason === null || this.finishReason === "stop" ? (this.sawToolCall ? "tool_use" : "end_turn") : (STOP_REASONS[this.finishReason] ?? "end_turn");
    const usage = toAnthropicUsage(this.usage);
    out.push(
      {
        type: "message_delta",
        delta: { stop_reason: reason, stop_sequence: stopSequence, stop_details: null, container: null },
        usage: { input_tokens: usage.input_tokens, output_tokens: usage.output_tokens, cache_creation_input_tokens: usage.cache_creation_input_tokens, cache_read_input_tokens: usage.cache_read_input_tokens, server_tool_use: null },
      },
      { type: "message_stop" },
    );
    return out;
  }

  private start(upstreamId: string | undefined): JsonObject[] {
    if (this.started) return [];
    this.started = true;
    const id = upstreamId === undefined || upstreamId === "" ? `msg_${randomUUID().replace(/-/g, "")}` : upstreamId.startsWith("msg_") ? upstreamId : `msg_${upstreamId.replace(/^chatcmpl-/, "")}`;
    const message = {
      id,
      type: "message",
      role: "assistant",
      model: this.modelName,
      content: [],
      stop_reason: null,
      stop_sequence: null,
      stop_details: null,
      container: null,
      diagnostics: null,
      usage: { input_tokens: 0, output_tokens: 0, cache_creation_input_tokens: 0, cache_read_input_tokens: 0, cache_creation: null, server_tool_use: null, service_tier: null },
    };
    return [{ type: "message_start", message }];
  }

  /** Opens a thinking or text block unless that kind is the one open (closing the open one first). */
  private into(kind: "thinking" | "text"): JsonObject[] {
    if (this.open?.kind === kind) return [];
    const out = this.close();
    this.index += 1;
    this.open = { kind };
    const content = kind === "thinking" ? { type: "thinking", thinking: "", signature: "" } : { type: "text", text: "", citations: null };
    out.push({ type: "content_block_start", index: this.index, content_block: content });
    return out;
  }

  private close(): JsonObject[] {
    if (this.open === null) return [];
    this.open = null;
    return [{ type: "content_block_stop", index: this.index }];
  }

  private delta(delta: JsonObject): JsonObject {
    return { type: "content_block_delta", index: this.index, delta };
  }

  /** A tool call delta: its first fragment (with id and name) opens a tool_use block; arguments stream as JSON text. */
  private toolCall(call: JsonObject): JsonObject[] {
    const position = asNumber(call.index) ?? 0;
    const fn = asObject(call.function) ?? {};
    const out: JsonObject[] = [];
    if (this.open?.kind !== "tool" || this.open.call !== position) {
      out.push(...this.close());
      this.index += 1;
      this.open = { kind: "tool", call: position };
      this.sawToolCall = true;
      const id = asString(call.id) || `toolu_${position}_${randomUUID().replace(/-/g, "").slice(0, 16)}`;
      out.push({ type: "content_block_start", index: this.index, content_block: { type: "tool_use", id, name: asString(fn.name) ?? "", input: {}, caller: { type: "direct" } } });
    }
    const args = asString(fn.arguments);
    if (args) out.push(this.delta({ type: "input_json_delta", partial_json: args }));
    return out;
  }
}
