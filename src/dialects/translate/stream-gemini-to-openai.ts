/**
 * Gemini streamed GenerateContentResponses -> OpenAI `chat.completion.chunk`s, for an OpenAI client
 * (`stream: true`) served by the gemini Engine. One translator per stream, fed chunk by chunk (ChunkPipe),
 * mirroring geminiToOpenAIResponse for a whole reply: per candidate a role chunk first, then text parts as
 * content deltas, thought parts as `reasoning_content` deltas, function calls as whole tool call deltas
 * (Gemini sends each call complete), and the finish reason mapped as for whole replies. Gemini puts
 * usageMetadata on its chunks; the last one seen becomes the usage chunk when the client asked for
 * `stream_options.include_usage` (every earlier chunk then carries `usage: null`, as OpenAI's do).
 */
import { randomUUID } from "node:crypto";
import { asArray, asNumber, asObject, asString, field, isObject, type JsonObject } from "./json-fields.ts";
import { candidateParts, toOpenAIFinishReason, toOpenAIUsage } from "./gemini-to-openai-response.ts";

export class GeminiToOpenAIStream {
  private id: string | undefined;
  private readonly created = Math.floor(Date.now() / 1000);
  private readonly started = new Set<number>();
  private readonly calls = new Map<number, number>();
  private usage: JsonObject | null = null;

  constructor(
    private readonly modelName: string,
    private readonly includeUsage: boolean,
  ) {}

  chunk(data: JsonObject): JsonObject[] {
    this.id ??= asString(field(data, "responseId")) ?? `chatcmpl-${randomUUID()}`;
    const metadata = field(data, "usageMetadata");
    if (isObject(metadata)) this.usage = toOpenAIUsage(metadata);
    const out: JsonObject[] = [];
    const candidates = asArray(data.candidates).filter(isObject);
    for (const [position, candidate] of candidates.entries()) out.push(...this.candidate(candidate, asNumber(candidate.index) ?? position));
    const blockReason = asString(field(asObject(field(data, "promptFeedback")) ?? {}, "blockReason"));
    if (candidates.length === 0 && blockReason !== undefined) {
      out.push(...this.opening(0), this.envelope([{ index: 0, delta: {}, logprobs: null, finish_reason: "content_filter" }]));
    }
    return out;
  }

  end(): JsonObject[] {
    return this.includeUsage ? [{ ...this.envelope([]), usage: this.usage ?? toOpenAIUsage(undefined) }] : [];
  }

  private candidate(candidate: JsonObject, index: number): JsonObject[] {
    const out = this.opening(index);
    const { texts, thoughts, calls } = candidateParts(candidate);
    const toolCalls = calls.map(({ call }) => this.toolCall(call, index));
    if (thoughts.length > 0) out.push(this.envelope([{ index, delta: { reasoning_content: thoughts.join("") }, logprobs: null, finish_reason: null }]));
    if (texts.length > 0) out.push(this.envelope([{ index, delta: { content: texts.join("") }, logprobs: null, finish_reason: null }]));
    if (toolCalls.length > 0) out.push(this.envelope([{ index, delta: { tool_calls: toolCalls }, logprobs: null, finish_reason: null }]));
    const reason = field(candidate, "finishReason");
    if (reason !== undefined && reason !== "FINISH_REASON_UNSPECIFIED") {
      out.push(this.envelope([{ index, delta: {}, logprobs: null, finish_reason: toOpenAIFinishReason(reason, (this.calls.get(index) ?? 0) > 0) }]));
    }
    return out;
  }

  private toolCall(call: JsonObject, choice: number): JsonObject {
    const position = this.calls.get(choice) ?? 0;
    this.calls.set(choice, position + 1);
    return {
      index: position,
      id: asString(call.id) ?? `call_${choice}_${position}`,
      type: "function",
      function: { name: asString(call.name) ?? "", arguments: JSON.stringify(call.args ?? {}) },
    };
  }

  private opening(index: number): JsonObject[] {
    if (this.started.has(index)) return [];
    this.started.add(index);
    return [this.envelope([{ index, delta: { role: "assistant", content: "" }, logprobs: null, finish_reason: null }])];
  }

  private envelope(choices: JsonObject[]): JsonObject {
    const chunk: JsonObject = { id: this.id, object: "chat.completion.chunk", created: this.created, model: this.modelName, choices };
    return this.includeUsage ? { ...chunk, usage: null } : chunk;
  }
}
