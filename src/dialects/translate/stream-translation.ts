/**
 * Streamed replies across dialects: a stateful translator per stream, run chunk by chunk over the Engine's
 * stream by a ChunkPipe. As for whole replies (dialect-pairs.ts), OpenAI's chunks are the hub: Gemini and
 * Anthropic translate to and from them (stream-gemini-to-openai.ts, stream-openai-to-gemini.ts,
 * stream-anthropic-to-openai.ts, stream-openai-to-anthropic.ts), and a Gemini <-> Anthropic pair chains two.
 * Used by the translating wrapper.
 */
import type { StreamChunk } from "../../core/engine.ts";
import { ChunkPipe } from "../../core/ending-iterator.ts";
import type { Dialect } from "../../core/types.ts";
import type { JsonObject } from "./json-fields.ts";
import { AnthropicToOpenAIStream } from "./stream-anthropic-to-openai.ts";
import { GeminiToOpenAIStream } from "./stream-gemini-to-openai.ts";
import { OpenAIToAnthropicStream } from "./stream-openai-to-anthropic.ts";
import { OpenAIToGeminiStream } from "./stream-openai-to-gemini.ts";

interface StreamTranslator {
  chunk(data: JsonObject): JsonObject[];
  end(): JsonObject[];
}

/**
 * The native body to send for a streamed request translated from another dialect: an OpenAI-shaped Engine
 * is always asked for its usage chunk, which the other dialects report in their own places.
 */
export function streamingBody(nativeDialect: Dialect, body: JsonObject): JsonObject {
  return nativeDialect === "openai" ? { ...body, stream_options: { include_usage: true } } : body;
}

/** `chunks` (in the Engine's dialect `from`) as chunks in `to`, the dialect of `request`. */
export function translateStream(
  from: Dialect,
  to: Dialect,
  chunks: AsyncIterable<StreamChunk>,
  options: { modelName: string; request: JsonObject; failure: (error: unknown) => unknown },
): AsyncIterableIterator<StreamChunk> {
  // The hub's chunks carry usage whenever a next step needs it (Gemini and Anthropic report it).
  const toOpenAI: StreamTranslator | null =
    from === "openai" ? null : from === "gemini" ? new GeminiToOpenAIStream(options.modelName, to !== "openai" || includesUsage(options.request)) : new AnthropicToOpenAIStream(options.modelName, to !== "openai" || includesUsage(options.request));
  const fromOpenAI: StreamTranslator | null =
    to === "openai" ? null : to === "gemini" ? new OpenAIToGeminiStream(options.modelName, options.request) : new OpenAIToAnthropicStream(options.modelName, options.request);
  const translator = chain(toOpenAI, fromOpenAI);
  // Anthropic's events are named (the SDK skips unnamed ones): the name is the event's `type`.
  const wrap = (data: JsonObject): StreamChunk => ({ event: to === "anthropic" && typeof data.type === "string" ? data.type : null, data });
  return new ChunkPipe(chunks, (chunk: StreamChunk) => translator.chunk(chunk.data).map(wrap), () => translator.end().map(wrap), options.failure);
}

/** Two translators as one: what the first gives, and what it gives at its end, goes through the second. */
function chain(first: StreamTranslator | null, second: StreamTranslator | null): StreamTranslator {
  if (first === null && second !== null) return second;
  if (second === null && first !== null) return first;
  if (first === null || second === null) throw new Error("A stream needs translating only between two different dialects.");
  return {
    chunk: (data) => first.chunk(data).flatMap((each) => second.chunk(each)),
    end: () => [...first.end().flatMap((each) => second.chunk(each)), ...second.end()],
  };
}

/** Whether an OpenAI body asks for the usage chunk at the end of its stream. */
export function includesUsage(body: JsonObject): boolean {
  const options = body.stream_options;
  return typeof options === "object" && options !== null && (options as { include_usage?: unknown }).include_usage === true;
}
