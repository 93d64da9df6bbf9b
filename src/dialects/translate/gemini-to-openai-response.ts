/**
 * Gemini GenerateContentResponse / EmbedContentResponse -> OpenAI chat.completion / embedding list, for an
 * OpenAI-dialect Item served by the gemini Engine. Read leniently: Gemini omits fields equal to their
 * default (0, empty lists), so nothing is assumed present.
 */
import { randomUUID } from "node:crypto";
import type { RequestKind } from "../../core/types.ts";
import { asArray, asNumber, asObject, asString, compact, field, isObject, type JsonObject } from "./json-fields.ts";
import { TranslationError } from "./translation-error.ts";

export interface OpenAIResponseOptions {
  /** The Model name the client used; written as `model`. */
  modelName: string;
  /** The OpenAI request this reply answers (for `encoding_format` of embeddings). */
  request?: JsonObject;
  /** `created` of the chat.completion; defaults to now. */
  nowMs?: number;
}

export function geminiToOpenAIResponse(kind: RequestKind, reply: unknown, options: OpenAIResponseOptions): JsonObject {
  const object = asObject(reply) ?? {};
  if (kind === "chat") return toChatCompletion(object, options);
  if (kind === "embedding") return toEmbeddingList(object, options);
  throw new TranslationError("Gemini models have no text-completion replies.", null);
}

const CONTENT_FILTER = new Set(["SAFETY", "RECITATION", "BLOCKLIST", "PROHIBITED_CONTENT", "SPII", "IMAGE_SAFETY", "IMAGE_PROHIBITED_CONTENT"]);

/**
 * Gemini finishReason -> OpenAI finish_reason. OpenAI has five values; reasons with no counterpart
 * (LANGUAGE, OTHER, MALFORMED_FUNCTION_CALL, ...) become "stop", the only value that promises nothing
 * about why, rather than an invented string the OpenAI SDK's types do not allow.
 */
export function toOpenAIFinishReason(reason: unknown, calledFunctions: boolean): string | null {
  if (typeof reason !== "string" || reason === "FINISH_REASON_UNSPECIFIED") return calledFunctions ? "tool_calls" : null;
  if (reason === "MAX_TOKENS") return "length";
  if (CONTENT_FILTER.has(reason)) return "content_filter";
  return calledFunctions ? "tool_calls" : "stop";
}

function toChatCompletion(reply: JsonObject, options: OpenAIResponseOptions): JsonObject {
  const candidates = asArray(reply.candidates).filter(isObject);
  const choices = candidates.map((candidate, position) => toChoice(candidate, position));
  const blockReason = asString(field(asObject(field(reply, "promptFeedback")) ?? {}, "blockReason"));
  if (choices.length === 0 && blockReason !== undefined) {
    // A blocked prompt has no candidates; OpenAI clients read choices[0], so the block is reported as an
    // empty, content-filtered answer rather than an empty list.
    choices.push({ index: 0, message: { role: "assistant", content: null, refusal: null }, logprobs: null, finish_reason: "content_filter" });
  }
  return {
    id: asString(field(reply, "responseId")) ?? `chatcmpl-${randomUUID()}`,
    object: "chat.completion",
    created: Math.floor((options.nowMs ?? Date.now()) / 1000),
    model: options.modelName,
    choices,
    usage: toOpenAIUsage(field(reply, "usageMetadata")),
  };
}

/** A candidate's parts by what they carry: answer text, thought text, function calls (with their signature). */
export function candidateParts(candidate: JsonObject): { texts: string[]; thoughts: string[]; calls: { call: JsonObject; signature: string | undefined }[] } {
  const texts: string[] = [];
  const thoughts: string[] = [];
  const calls: { call: JsonObject; signature: string | undefined }[] = [];
  for (const part of asArray(asObject(candidate.content)?.parts).filter(isObject)) {
    const text = asString(part.text);
    const call = asObject(field(part, "functionCall"));
    if (text !== undefined) (part.thought === true ? thoughts : texts).push(text);
    else if (call) calls.push({ call, signature: asString(field(part, "thoughtSignature")) });
  }
  return { texts, thoughts, calls };
}

function toChoice(candidate: JsonObject, position: number): JsonObject {
  const index = asNumber(candidate.index) ?? position;
  const { texts, thoughts, calls } = candidateParts(candidate);
  const toolCalls = calls.map(({ call, signature }, at) => toolCallOf(call, signature, index, at));
  const message = compact({
    role: "assistant",
    content: texts.length > 0 ? texts.join("") : null,
    // Non-standard but what vLLM, DeepSeek and llama.cpp use; only present when the model showed thoughts.
    reasoning_content: thoughts.length > 0 ? thoughts.join("") : undefined,
    refusal: null,
    tool_calls: toolCalls.length > 0 ? toolCalls : undefined,
  });
  return {
    index,
    message,
    logprobs: logprobsOf(field(candidate, "logprobsResult")),
    finish_reason: toOpenAIFinishReason(field(candidate, "finishReason"), toolCalls.length > 0),
  };
}

function toolCallOf(call: JsonObject, signature: string | undefined, choice: number, position: number): JsonObject {
  return compact({
    id: asString(call.id) ?? `call_${choice}_${position}`,
    type: "function",
    function: { name: asString(call.name) ?? "", arguments: JSON.stringify(call.args ?? {}) },
    // Google's OpenAI-compatible convention; openAIToGeminiRequest sends it back with the call.
    extra_content: signature === undefined ? undefined : { google: { thought_signature: signature } },
  });
}

function logprobsOf(result: unknown): JsonObject | null {
  const object = asObject(result);
  if (!object) return null;
  const chosen = asArray(field(object, "chosenCandidates")).filter(isObject);
  const top = asArray(field(object, "topCandidates")).filter(isObject);
  const entry = (candidate: JsonObject): JsonObject => ({ token: asString(candidate.token) ?? "", logprob: asNumber(field(candidate, "logProbability")) ?? 0, bytes: null });
  return {
    content: chosen.map((candidate, position) => ({
      ...entry(candidate),
      top_logprobs: asArray(top[position]?.candidates).filter(isObject).map(entry),
    })),
    refusal: null,
  };
}

/**
 * Gemini counts thoughts apart from candidates; OpenAI's completion_tokens include reasoning:
 * completion_tokens = candidates + thoughts, reasoning_tokens = thoughts. Tokens of tool-use prompts
 * (toolUsePromptTokenCount) are prompt tokens to OpenAI, so totals agree on both sides.
 */
export function toOpenAIUsage(usageMetadata: unknown): JsonObject {
  const usage = asObject(usageMetadata) ?? {};
  const prompt = (asNumber(field(usage, "promptTokenCount")) ?? 0) + (asNumber(field(usage, "toolUsePromptTokenCount")) ?? 0);
  const thoughts = asNumber(field(usage, "thoughtsTokenCount")) ?? 0;
  const completion = (asNumber(field(usage, "candidatesTokenCount")) ?? 0) + thoughts;
  const cached = asNumber(field(usage, "cachedContentTokenCount"));
  return compact({
    prompt_tokens: prompt,
    completion_tokens: completion,
    total_tokens: prompt + completion,
    prompt_tokens_details: cached === undefined ? undefined : { cached_tokens: cached },
    completion_tokens_details: { reasoning_tokens: thoughts },
  });
}

/** `{embedding}` (embedContent) or `{embeddings: [...]}` (batchEmbedContents) -> an OpenAI embedding list. */
function toEmbeddingList(reply: JsonObject, options: OpenAIResponseOptions): JsonObject {
  const single = asObject(reply.embedding);
  const vectors = (single ? [single] : asArray(reply.embeddings).filter(isObject)).map((embedding) => asArray(embedding.values).map(Number));
  if (vectors.length === 0) throw new TranslationError("The Gemini reply holds no embedding.", null);
  const base64 = options.request?.encoding_format === "base64";
  // embedContent replies carry no token count on the Developer API; batch results carry tokenCount.
  const tokens = asNumber(field(asObject(field(reply, "usageMetadata")) ?? {}, "promptTokenCount")) ?? asNumber(field(reply, "tokenCount")) ?? 0;
  return {
    object: "list",
    data: vectors.map((values, index) => ({ object: "embedding", index, embedding: base64 ? encodeBase64Floats(values) : values })),
    model: options.modelName,
    usage: { prompt_tokens: tokens, total_tokens: tokens },
  };
}

export function encodeBase64Floats(values: readonly number[]): string {
  return Buffer.from(new Float32Array(values).buffer).toString("base64");
}
