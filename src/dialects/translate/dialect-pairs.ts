/**
 * Which translation runs for each pair of dialects. OpenAI's shape is the hub: Gemini and Anthropic each
 * translate to and from it, and a Gemini request on an `anthropic` Engine (or an Anthropic request on a
 * `gemini` one) goes through it in two steps. Two mappings per dialect instead of one per pair keep each
 * field's rule in one place; the price is that a field one of the two pivots drops is dropped for the pair
 * too (e.g. Gemini's topK survives, since OpenAI-shaped bodies carry `top_k`; Anthropic thinking blocks of
 * earlier turns do not reach Gemini).
 */
import type { Dialect, RequestKind } from "../../core/types.ts";
import { anthropicToOpenAIRequest } from "./anthropic-to-openai-request.ts";
import { anthropicToOpenAIResponse } from "./anthropic-to-openai-response.ts";
import { geminiToOpenAIRequest } from "./gemini-to-openai-request.ts";
import { geminiToOpenAIResponse } from "./gemini-to-openai-response.ts";
import type { JsonObject } from "./json-fields.ts";
import { openAIToAnthropicRequest } from "./openai-to-anthropic-request.ts";
import { openAIToAnthropicResponse } from "./openai-to-anthropic-response.ts";
import { openAIToGeminiRequest } from "./openai-to-gemini-request.ts";
import { openAIToGeminiResponse } from "./openai-to-gemini-response.ts";
import { TranslationError } from "./translation-error.ts";

/** `body`, a request in `from`, as a request body in `to`. */
export function translateRequest(from: Dialect, to: Dialect, kind: RequestKind, body: JsonObject): JsonObject {
  if (from === to) return body;
  const openai = toOpenAIRequest(from, kind, body);
  if (to === "openai") return openai;
  return to === "gemini" ? openAIToGeminiRequest(kind, openai) : openAIToAnthropicRequest(kind, openai);
}

function toOpenAIRequest(from: Dialect, kind: RequestKind, body: JsonObject): JsonObject {
  if (from === "openai") return body;
  if (from === "gemini") return geminiToOpenAIRequest(kind, body);
  if (kind !== "chat") throw new TranslationError("The Anthropic dialect has messages only.", null);
  return anthropicToOpenAIRequest(body);
}

export interface ReplyOptions {
  /** The Model name the client used. */
  modelName: string;
  /** The client's request, in `to` (what the reply shape depends on: dimensions, stop sequences...). */
  request: JsonObject;
}

/** A reply body of an Engine speaking `from`, expressed in the client's dialect `to`. */
export function translateReply(from: Dialect, to: Dialect, kind: RequestKind, reply: unknown, options: ReplyOptions): unknown {
  if (from === to) return reply;
  // geminiToOpenAIResponse reads its OpenAI request only for embeddings, which never cross Anthropic, so a
  // pivot needs none.
  const openaiRequest = to === "openai" ? options.request : undefined;
  const openai =
    from === "openai"
      ? reply
      : from === "gemini"
        ? geminiToOpenAIResponse(kind, reply, { modelName: options.modelName, request: openaiRequest })
        : anthropicToOpenAIResponse(reply, { modelName: options.modelName });
  if (to === "openai") return openai;
  if (to === "gemini") return openAIToGeminiResponse(kind, openai, options);
  return openAIToAnthropicResponse(openai, options);
}
