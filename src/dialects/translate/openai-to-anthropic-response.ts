/**
 * OpenAI chat.completion -> Anthropic Message, for an Anthropic-dialect Item served by an OpenAI-shaped
 * Engine (and, after geminiToOpenAIResponse, by the gemini Engine). Read leniently: whatever the upstream
 * left out is defaulted, never assumed.
 *
 * - Content: reasoning (`reasoning_content`, vLLM's and llama.cpp's field) becomes a thinking block when the
 *   request asked for thinking; text a text block; tool calls tool_use blocks with parsed input.
 * - stop_reason: `stop` is end_turn, or stop_sequence when the upstream names the stop string that ended the
 *   answer (`choices[].stop_reason`, as vLLM and spool's llama-cpp engine do) and it is one of the request's
 *   stop_sequences; `length` is max_tokens, `tool_calls` tool_use, `content_filter` refusal.
 * - usage: Anthropic counts cache reads apart from input: input_tokens = prompt - cached,
 *   cache_read_input_tokens = cached (OpenAI's prompt_tokens_details.cached_tokens).
 */
import { randomUUID } from "node:crypto";
import { asArray, asNumber, asObject, asString, isObject, type JsonObject } from "./json-fields.ts";

export interface AnthropicResponseOptions {
  /** The Model name the client used; written as `model`. */
  modelName: string;
  /** The Anthropic request this reply answers (stop_sequences, thinking). */
  request?: JsonObject;
}

/** OpenAI finish_reason -> Anthropic stop_reason (also for streams). */
export const STOP_REASONS: Record<string, string> = { stop: "end_turn", length: "max_tokens", tool_calls: "tool_use", function_call: "tool_use", content_filter: "refusal" };

export function openAIToAnthropicResponse(reply: unknown, options: AnthropicResponseOptions): JsonObject {
  const object = asObject(reply) ?? {};
  // Anthropic answers with one message: the first choice (n > 1 cannot be asked for in this dialect).
  const choice = asObject(asArray(object.choices)[0]) ?? {};
  const message = asObject(choice.message) ?? {};
  const content: JsonObject[] = [];
  const reasoning = asString(message.reasoning_content) ?? asString(message.reasoning);
  const thinking = asObject(options.request?.thinking);
  if (reasoning && thinking !== undefined && thinking.type !== "disabled") content.push({ type: "thinking", thinking: reasoning, signature: "" });
  const text = messageText(message.content);
  if (text !== "") content.push({ type: "text", text, citations: null });
  for (const [index, call] of asArray(message.tool_calls).entries()) content.push(toolUseBlock(asObject(call) ?? {}, index));
  const { stopReason, stopSequence } = stopOf(choice, content, options.request);
  return {
    id: messageId(asString(object.id)),
    type: "message",
    role: "assistant",
    model: options.modelName,
    content,
    stop_reason: stopReason,
    stop_sequence: stopSequence,
    stop_details: null,
    container: null,
    diagnostics: null,
    usage: toAnthropicUsage(object.usage),
  };
}

function messageId(upstream: string | undefined): string {
  if (upstream === undefined || upstream === "") return `msg_${randomUUID().replace(/-/g, "")}`;
  return upstream.startsWith("msg_") ? upstream : `msg_${upstream.replace(/^chatcmpl-/, "")}`;
}

function messageText(content: unknown): string {
  if (typeof content === "string") return content;
  return asArray(content)
    .map((part) => (isObject(part) && part.type === "text" ? (asString(part.text) ?? "") : ""))
    .join("");
}

/** Arguments that are not a JSON object (a model's malformed call) are kept as `{"_raw": text}`, not lost. */
function toolUseBlock(call: JsonObject, index: number): JsonObject {
  const fn = asObject(call.function) ?? {};
  const raw = asString(fn.arguments) ?? "";
  let input: unknown = {};
  if (isObject(fn.arguments)) input = fn.arguments;
  else if (raw.trim() !== "") {
    try {
      const parsed: unknown = JSON.parse(raw);
      input = isObject(parsed) ? parsed : { _raw: raw };
    } catch {
      input = { _raw: raw };
    }
  }
  return { type: "tool_use", id: toolUseId(asString(call.id), index), name: asString(fn.name) ?? "", input, caller: { type: "direct" } };
}

function toolUseId(upstream: string | undefined, index: number): string {
  if (upstream === undefined || upstream === "") return `toolu_${index}_${randomUUID().replace(/-/g, "").slice(0, 16)}`;
  return upstream;
}

function stopOf(choice: JsonObject, content: JsonObject[], request: JsonObject | undefined): { stopReason: string; stopSequence: string | null } {
  const reason = asString(choice.finish_reason);
  if (reason === "stop" || reason === undefined) {
    const matched = asString(choice.stop_reason);
    const asked = asArray(request?.stop_sequences);
    if (matched !== undefined && asked.includes(matched)) return { stopReason: "stop_sequence", stopSequence: matched };
    if (content.some((block) => block.type === "tool_use")) return { stopReason: "tool_use", stopSequence: null };
    return { stopReason: "end_turn", stopSequence: null };
  }
  return { stopReason: STOP_REASONS[reason] ?? "end_turn", stopSequence: null };
}

/** OpenAI usage -> Anthropic usage (cache reads counted apart from input, as Anthropic does). */
export function toAnthropicUsage(usage: unknown): JsonObject {
  const object = asObject(usage) ?? {};
  const prompt = asNumber(object.prompt_tokens) ?? 0;
  const cached = Math.min(prompt, asNumber(asObject(object.prompt_tokens_details)?.cached_tokens) ?? 0);
  return {
    input_tokens: prompt - cached,
    output_tokens: asNumber(object.completion_tokens) ?? 0,
    cache_creation_input_tokens: 0,
    cache_read_input_tokens: cached,
    cache_creation: null,
    server_tool_use: null,
    service_tier: null,
  };
}
