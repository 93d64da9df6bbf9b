/**
 * OpenAI chat.completion / embedding list -> Gemini GenerateContentResponse / EmbedContentResponse, for a
 * Gemini-dialect Item served by an OpenAI-shaped Engine. Upstream replies are read leniently (missing
 * fields default, nothing is assumed present): an empty answer is reported as Gemini reports one, never
 * dropped and never a crash.
 */
import type { RequestKind } from "../../core/types.ts";
import { fitEmbeddingDimension } from "./embedding-dimension.ts";
import { ENUM_VALUE_PROPERTY } from "./gemini-generation-config.ts";
import { asArray, asNumber, asObject, asString, compact, field, isObject, type JsonObject } from "./json-fields.ts";
import { TranslationError } from "./translation-error.ts";

export interface GeminiResponseOptions {
  /** The Model name the client used; written as `modelVersion`. */
  modelName: string;
  /**
   * The Gemini request this reply answers. Needed for what the reply shape depends on: the
   * `outputDimensionality` of embeddings, unwrapping `text/x.enum` answers, and `includeThoughts`.
   */
  request?: JsonObject;
}

export function openAIToGeminiResponse(kind: RequestKind, reply: unknown, options: GeminiResponseOptions): JsonObject {
  if (kind === "chat") return toGenerateContentResponse(asObject(reply) ?? {}, options);
  if (kind === "embedding") return toEmbedResponse(reply, options.request ?? {});
  throw new TranslationError("The Gemini dialect has no text-completion replies.", null);
}

const FINISH_REASONS: Record<string, string> = {
  stop: "STOP",
  length: "MAX_TOKENS",
  content_filter: "SAFETY",
  // Gemini reports a turn that ends in function calls as STOP with functionCall parts.
  tool_calls: "STOP",
  function_call: "STOP",
};

/** OpenAI finish_reason -> Gemini finishReason (OTHER for values OpenAI-compatible servers invent). */
export function toGeminiFinishReason(reason: unknown): string | undefined {
  if (typeof reason !== "string") return undefined;
  return FINISH_REASONS[reason] ?? "OTHER";
}

export interface ReplyContext {
  unwrapEnum: boolean;
  includeThoughts: boolean;
}

/** What the shape of a reply to this Gemini request depends on. */
export function replyContextOf(request: JsonObject | undefined): ReplyContext {
  const config = asObject(field(request ?? {}, "generationConfig")) ?? {};
  return {
    unwrapEnum: asString(field(config, "responseMimeType"))?.toLowerCase() === "text/x.enum",
    includeThoughts: field(asObject(field(config, "thinkingConfig")) ?? {}, "includeThoughts") === true,
  };
}

function toGenerateContentResponse(reply: JsonObject, options: GeminiResponseOptions): JsonObject {
  const context = replyContextOf(options.request);
  const candidates = asArray(reply.choices).map((choice, position) => toCandidate(asObject(choice) ?? {}, position, context));
  return compact({
    // No choices at all is reported as no candidates, as Gemini does for a blocked prompt.
    candidates: candidates.length > 0 ? candidates : undefined,
    usageMetadata: toUsageMetadata(reply.usage),
    modelVersion: options.modelName,
    responseId: asString(reply.id),
  });
}

function toCandidate(choice: JsonObject, position: number, context: ReplyContext): JsonObject {
  const message = asObject(choice.message) ?? {};
  const parts: JsonObject[] = [];
  const reasoning = asString(message.reasoning_content) ?? asString(message.reasoning);
  if (context.includeThoughts && reasoning) parts.push({ text: reasoning, thought: true });
  const text = messageText(message.content);
  if (text) parts.push({ text: context.unwrapEnum ? unwrapEnum(text) : text });
  let malformedCall = false;
  for (const call of asArray(message.tool_calls)) {
    const part = functionCallPart(call);
    if (part) parts.push(part);
    else malformedCall = true;
  }
  const refusal = asString(message.refusal);
  let finishReason = toGeminiFinishReason(choice.finish_reason);
  if (malformedCall) finishReason = "MALFORMED_FUNCTION_CALL";
  else if (refusal && !text) finishReason = "SAFETY";
  return compact({
    // Gemini's empty answer (thinking used every token, or a filtered reply): a content without parts.
    content: parts.length > 0 ? { role: "model", parts } : { role: "model" },
    finishReason,
    finishMessage: refusal || undefined,
    index: asNumber(choice.index) ?? position,
    ...logprobsOf(choice.logprobs),
  });
}

function messageText(content: unknown): string {
  if (typeof content === "string") return content;
  return asArray(content)
    .map((part) => (isObject(part) && part.type === "text" ? (asString(part.text) ?? "") : ""))
    .join("");
}

export function unwrapEnum(text: string): string {
  try {
    const parsed: unknown = JSON.parse(text);
    const value = isObject(parsed) ? parsed[ENUM_VALUE_PROPERTY] : parsed;
    return typeof value === "string" ? value : text;
  } catch {
    // Not JSON: the engine ignored the schema; the raw text is the most faithful answer.
    return text;
  }
}

/** null when the arguments are not a JSON object (Gemini's MALFORMED_FUNCTION_CALL). */
export function functionCallPart(call: unknown): JsonObject | null {
  const object = asObject(call) ?? {};
  const fn = asObject(object.function) ?? {};
  const name = asString(fn.name);
  if (name === undefined) return null;
  const raw = asString(fn.arguments) ?? "{}";
  let args: unknown;
  try {
    args = raw.trim() === "" ? {} : JSON.parse(raw);
  } catch {
    return null;
  }
  if (!isObject(args)) return null;
  return { functionCall: compact({ id: asString(object.id), name, args }) };
}

function logprobsOf(logprobs: unknown): JsonObject {
  const tokens = asArray(asObject(logprobs)?.content).filter(isObject);
  if (tokens.length === 0) return {};
  const candidate = (token: JsonObject): JsonObject => ({ token: asString(token.token) ?? "", logProbability: asNumber(token.logprob) ?? 0 });
  const chosen = tokens.map(candidate);
  return {
    avgLogprobs: chosen.reduce((sum, token) => sum + Number(token.logProbability), 0) / chosen.length,
    logprobsResult: {
      chosenCandidates: chosen,
      topCandidates: tokens.map((token) => ({ candidates: asArray(token.top_logprobs).filter(isObject).map(candidate) })),
    },
  };
}

/**
 * OpenAI's completion_tokens include reasoning; Gemini counts thoughts apart:
 * candidatesTokenCount = completion - reasoning, thoughtsTokenCount = reasoning,
 * totalTokenCount = prompt + candidates + thoughts (e.g. 8 + 11 + 829 = 848).
 */
export function toUsageMetadata(usage: unknown): JsonObject | undefined {
  const object = asObject(usage);
  if (!object) return undefined;
  const prompt = asNumber(object.prompt_tokens) ?? 0;
  const completion = asNumber(object.completion_tokens) ?? 0;
  const reasoning = Math.min(completion, asNumber(asObject(object.completion_tokens_details)?.reasoning_tokens) ?? 0);
  const cached = asNumber(asObject(object.prompt_tokens_details)?.cached_tokens) ?? 0;
  return compact({
    promptTokenCount: prompt,
    candidatesTokenCount: completion - reasoning,
    thoughtsTokenCount: reasoning > 0 ? reasoning : undefined,
    cachedContentTokenCount: cached > 0 ? cached : undefined,
    totalTokenCount: prompt + completion,
  });
}

/** The vectors of an OpenAI embedding list in input order, decoding `encoding_format: "base64"` data. */
export function openAIEmbeddingVectors(reply: unknown): number[][] {
  const data = asArray(asObject(reply)?.data).filter(isObject);
  const ordered = [...data].sort((a, b) => (asNumber(a.index) ?? 0) - (asNumber(b.index) ?? 0));
  return ordered.map((entry, position) => {
    const embedding = entry.embedding;
    if (typeof embedding === "string") return decodeBase64Floats(embedding);
    if (Array.isArray(embedding) && embedding.every((value) => typeof value === "number")) return embedding;
    throw new TranslationError(`The engine's embedding ${position} is not a list of numbers.`, null);
  });
}

export function decodeBase64Floats(text: string): number[] {
  const bytes = Buffer.from(text, "base64");
  const floats = new Float32Array(bytes.buffer, bytes.byteOffset, Math.floor(bytes.byteLength / 4));
  return Array.from(floats);
}

/** One Gemini embedContent reply (`{embedding: {values}}`), fitted to `outputDimensionality` when given. */
export function toGeminiEmbedContentResponse(values: readonly number[], outputDimensionality?: number, param?: string): JsonObject {
  return { embedding: { values: outputDimensionality === undefined ? [...values] : fitEmbeddingDimension(values, outputDimensionality, param) } };
}

/**
 * An EmbedContentRequest (`{content, outputDimensionality}`) gets `{embedding}`; a BatchEmbedContentsRequest
 * (`{requests: [...]}`) gets `{embeddings: [...]}`, each fitted to its own request's dimensionality.
 */
function toEmbedResponse(reply: unknown, request: JsonObject): JsonObject {
  const vectors = openAIEmbeddingVectors(reply);
  const requests = field(request, "requests");
  if (Array.isArray(requests)) {
    if (vectors.length !== requests.length) {
      throw new TranslationError(`The engine returned ${vectors.length} embeddings for ${requests.length} requests.`, "requests");
    }
    return {
      embeddings: vectors.map((values, index) => {
        const dimension = asNumber(field(asObject(requests[index]) ?? {}, "outputDimensionality"));
        return toGeminiEmbedContentResponse(values, dimension, `requests[${index}].outputDimensionality`).embedding;
      }),
    };
  }
  const [values] = vectors;
  if (values === undefined) throw new TranslationError("The engine returned no embedding.", null);
  return toGeminiEmbedContentResponse(values, asNumber(field(request, "outputDimensionality")));
}
