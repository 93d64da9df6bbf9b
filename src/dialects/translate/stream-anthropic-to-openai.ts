/**
 * Anthropic Messages stream events -> OpenAI `chat.completion.chunk`s, for an OpenAI client (`stream: true`)
 * served by the `anthropic` Engine (and, through the OpenAI -> Gemini stream translator, a Gemini one). One
 * translator per stream, fed event by event, mirroring anthropicToOpenAIResponse for a whole reply:
 * `message_start` gives the role chunk, text deltas become content deltas, thinking deltas
 * `reasoning_content`, a tool_use block a tool call (id and name first, its `input_json_delta`s as argument
 * fragments), and `message_delta` the finish reason; usage (from `message_start` and `message_delta`) becomes
 * the usage chunk when the client asked for `stream_options.include_usage`. `ping` and unknown events carry
 * nothing an OpenAI client could use.
 */
import { asNumber, asObject, asString, type JsonObject } from "./json-fields.ts";
import { FINISH_REASONS, toOpenAIUsageFromAnthropic } from "./anthropic-to-openai-response.ts";

export class AnthropicToOpenAIStream {
  private id = "msg_unknown";
  private readonly created = Math.floor(Date.now() / 1000);
  private usage: JsonObject = {};
  /** Tool call position (OpenAI's `tool_calls[].index`) of each tool_use block, by block index. */
  private readonly calls = new Map<number, number>();

  constructor(
    private readonly modelName: string,
    private readonly includeUsage: boolean,
  ) {}

  chunk(event: JsonObject): JsonObject[] {
    switch (event.type) {
      case "message_start": {
        const message = asObject(event.message) ?? {};
        this.id = asString(message.id) ?? this.id;
        this.mergeUsage(message.usage);
        return [this.envelope({ role: "assistant", content: "" }, null)];
      }
      case "content_block_start":
        return this.blockStart(asNumber(event.index) ?? 0, asObject(event.content_block) ?? {});
      case "content_block_delta":
        return this.blockDelta(asNumber(event.index) ?? 0, asObject(event.delta) ?? {});
      case "message_delta": {
        this.mergeUsage(event.usage);
        const delta = asObject(event.delta) ?? {};
        const reason = asString(delta.stop_reason);
        const chunk = this.envelope({}, reason === undefined ? "stop" : (FINISH_REASONS[reason] ?? "stop"));
        const stop = asString(delta.stop_sequence);
        if (stop !== undefined) (chunk.choices as JsonObject[])[0]!.stop_reason = stop;
        return [chunk];
      }
      default:
        return [];
    }
  }

  end(): JsonObject[] {
    return this.includeUsage ? [{ id: this.id, object: "chat.completion.chunk", created: this.created, model: this.modelName, choices: [], usage: toOpenAIUsageFromAnthropic(this.usage) }] : [];
  }

  private blockStart(index: number, block: JsonObject): JsonObject[] {
    if (block.type !== "tool_use") return [];
    const position = this.calls.size;
    this.calls.set(index, position);
    const call = { index: position, id: asString(block.id) ?? `call_${position}`, type: "function", function: { name: asString(block.name) ?? "", arguments: "" } };
    return [this.envelope({ tool_calls: [call] }, null)];
  }

  private blockDelta(index: number, delta: JsonObject): JsonObject[] {
    if (delta.type === "text_delta") return [this.envelope({ content: asString(delta.text) ?? "" }, null)];
    if (delta.type === "thinking_delta") return [this.envelope({ reasoning_content: asString(delta.thinking) ?? "" }, null)];
    const position = this.calls.get(index);
    if (delta.type === "input_json_delta" && position !== undefined) {
      return [this.envelope({ tool_calls: [{ index: position, function: { arguments: asString(delta.partial_json) ?? "" } }] }, null)];
    }
    return [];
  }

  /** Usage fields arrive on message_start and (updated) on message_delta; the latest value of each wins. */
  private mergeUsage(usage: unknown): void {
    for (const [name, value] of Object.entries(asObject(usage) ?? {})) if (typeof value === "number") this.usage[name] = value;
  }

  private envelope(delta: JsonObject, finishReason: string | null): JsonObject {
    const chunk: JsonObject = { id: this.id, object: "chat.completion.chunk", created: this.created, model: this.modelName, choices: [{ index: 0, delta, logprobs: null, finish_reason: finishReason }] };
    return this.includeUsage ? { ...chunk, usage: null } : chunk;
  }
}
