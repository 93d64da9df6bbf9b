/**
 * Anthropic Message -> OpenAI chat.completion, for an OpenAI-dialect Item (or, after openAIToGeminiResponse,
 * a Gemini one) served by the `anthropic` Engine. Read leniently.
 *
 * - Text blocks are joined into `content`; tool_use blocks become `tool_calls`; thinking blocks
 *   `reasoning_content` (the field vLLM, DeepSeek and llama.cpp use); other blocks (server tool results)
 *   carry nothing an OpenAI client could act on and are left out.
 * - finish_reason: end_turn, stop_sequence, pause_turn -> stop; max_tokens and
 *   model_context_window_exceeded -> length; tool_use -> tool_calls; refusal -> content_filter. The stop
 *   string that ended the answer is kept as `stop_reason` (vLLM's field).
 * - usage: prompt_tokens = input + cache reads + cache writes (OpenAI counts every prompt token),
 *   prompt_tokens_details.cached_tokens = cache reads.
 */
import { asArray, asNumber, asObject, asString, compact, isObject, type JsonObject } from "./json-fields.ts";

export interface OpenAIFromAnthropicOptions {
  modelName: string;
  nowMs?: number;
}

/** Anthropic stop_reason -> OpenAI finish_reason (also for streams). */
export const FINISH_REASONS: Record<string, string> = {
  end_turn: "stop",
  stop_sequence: "stop",
  pause_turn: "stop",
  max_tokens: "length",
  model_context_window_exceeded: "length",
  tool_use: "tool_calls",
  refusal: "content_filter",
};

export function anthropicToOpenAIResponse(reply: unknown, options: OpenAIFromAnthropicOptions): JsonObject {
  const message = asObject(reply) ?? {};
  const texts: string[] = [];
  const thoughts: string[] = [];
  const calls: JsonObject[] = [];
  for (const block of asArray(message.content).filter(isObject)) {
    if (block.type === "text") texts.push(asString(block.text) ?? "");
    else if (block.type === "thinking") thoughts.push(asString(block.thinking) ?? "");
    else if (block.type === "tool_use") calls.push({ id: asString(block.id) ?? `call_${calls.length}`, type: "function", function: { name: asString(block.name) ?? "", arguments: JSON.stringify(block.input ?? {}) } });
  }
  const reason = asString(message.stop_reason);
  const stopSequence = asString(message.stop_sequence);
  const refused = reason === "refusal";
  return {
    id: asString(message.id) ?? "msg_unknown",
    object: "chat.completion",
    created: Math.floor((options.nowMs ?? Date.now()) / 1000),
    model: options.modelName,
    choices: [
      compact({
        index: 0,
        message: compact({
          role: "assistant",
          content: texts.length > 0 ? texts.join("") : null,
          reasoning_content: thoughts.length > 0 ? thoughts.join("") : undefined,
          refusal: refused ? (texts.join("") || "The model declined to answer.") : null,
          tool_calls: calls.length > 0 ? calls : undefined,
        }),
        logprobs: null,
        finish_reason: reason === undefined ? (calls.length > 0 ? "tool_calls" : "stop") : (FINISH_REASONS[reason] ?? "stop"),
        stop_reason: stopSequence,
      }),
    ],
    usage: toOpenAIUsageFromAnthropic(message.usage),
  };
}

export function toOpenAIUsageFromAnthropic(usage: unknown): JsonObject {
  const object = asObject(usage) ?? {};
  const cacheRead = asNumber(object.cache_read_input_tokens) ?? 0;
  const prompt = (asNumber(object.input_tokens) ?? 0) + cacheRead + (asNumber(object.cache_creation_input_tokens) ?? 0);
  const completion = asNumber(object.output_tokens) ?? 0;
  return { prompt_tokens: prompt, completion_tokens: completion, total_tokens: prompt + completion, prompt_tokens_details: { cached_tokens: cacheRead } };
}
