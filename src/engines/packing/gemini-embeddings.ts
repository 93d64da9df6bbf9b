/**
 * Packing Gemini EmbedContentRequests (the `gemini` Engine's dialect) into one BatchEmbedContentsRequest.
 * batchEmbedContents carries a whole EmbedContentRequest per input, so taskType, title and
 * outputDimensionality may differ between members: every single embedContent body shares one key. The
 * `{embeddings: [...]}` reply is split into `{embedding}` replies, as embedContent answers.
 */
import type { EngineReply, PackKey } from "../../core/engine.ts";
import { deferredMemberText, stringifyKeepingDeferred } from "../../core/deferred-json.ts";
import { keepJsonText } from "../../core/json.ts";
import { unsplittable } from "./openai-embeddings.ts";
import { estimateTextTokens, memberReply, shareTokens } from "./token-shares.ts";

export function geminiEmbeddingPackKey(body: Record<string, unknown>): PackKey | null {
  if (body.requests !== undefined) return null; // already a batch of its own
  const text = textOf(body);
  return text === null ? null : { key: "embedContent", estimatedTokens: estimateTextTokens(text) };
}

export function packedGeminiEmbeddingBody(bodies: readonly Record<string, unknown>[]): Record<string, unknown> {
  return { requests: [...bodies] };
}

export function splitGeminiEmbeddingReply(reply: EngineReply, bodies: readonly Record<string, unknown>[]): EngineReply[] {
  const body = asRecord(reply.body);
  const embeddings = Array.isArray(body?.embeddings) ? (body.embeddings as unknown[]) : null;
  if (body === null || embeddings === null) throw unsplittable("the reply holds no `embeddings` list");
  if (embeddings.length !== bodies.length) throw unsplittable(`the reply holds ${embeddings.length} embeddings for ${bodies.length} requests`);
  const shares = shareTokens(reply.usage.inputTokens, bodies.map((each) => estimateTextTokens(textOf(each) ?? "")));
  const { embeddings: _embeddings, usageMetadata, ...envelope } = body;
  return embeddings.map((embedding, index) => {
    const tokens = shares[index] ?? 0;
    const usage = usageMetadata === undefined ? {} : { usageMetadata: { promptTokenCount: tokens, totalTokenCount: tokens } };
    const member = { ...envelope, embedding, ...usage };
    // A long vector the reply's parse left as text (core/deferred-json.ts) is written as such, not parsed and
    // written again; a short one is serialized when stored, like every other reply.
    if (typeof embedding === "object" && embedding !== null && deferredMemberText(embedding, "values") !== null) keepJsonText(member, stringifyKeepingDeferred(member));
    return memberReply(reply, tokens, member);
  });
}

/** The text parts (and title) of an EmbedContentRequest, or null unless it is all text and not empty. */
function textOf(body: Record<string, unknown>): string | null {
  const parts = asRecord(body.content)?.parts;
  if (!Array.isArray(parts)) return null;
  const texts = parts.map((part) => asRecord(part)?.text);
  // Anything but text (inline data, files) runs alone: the estimate would be meaningless.
  if (!texts.every((text): text is string => typeof text === "string") || texts.join("").length === 0) return null;
  const title = typeof body.title === "string" ? body.title : "";
  return `${title}${texts.join("")}`;
}

function asRecord(value: unknown): Record<string, unknown> | null {
  return typeof value === "object" && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>) : null;
}
