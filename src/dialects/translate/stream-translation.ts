/**
 * Streamed replies across dialects: a stateful translator per stream (stream-openai-to-gemini.ts,
 * stream-gemini-to-openai.ts), run chunk by chunk over the Engine's stream by a ChunkPipe. Used by the
 * translating wrapper; a new client dialect adds its translators from the two engine dialects here.
 */
import type { StreamChunk } from "../../core/engine.ts";
import { ChunkPipe } from "../../core/ending-iterator.ts";
import type { Dialect } from "../../core/types.ts";
import type { JsonObject } from "./json-fields.ts";
import { GeminiToOpenAIStream } from "./stream-gemini-to-openai.ts";
import { OpenAIToGeminiStream } from "./stream-openai-to-gemini.ts";

interface StreamTranslator {
  chunk(data: JsonObject): JsonObject[];
  end(): JsonObject[];
}

/**
 * The native body to send for a streamed request translated from `to`: an OpenAI-shaped Engine is always
 * asked for its usage chunk, which the Gemini side reports as usageMetadata.
 */
export function streamingBody(nativeDialect: Dialect, body: JsonObject): JsonObject {
  return nativeDialect === "openai" ? { ...body, stream_options: { include_usage: true } } : body;
}

/** `chunks` (in the Engine's dialect) as chunks in `to`, the dialect of `request`. */
export function translateStream(
  to: Dialect,
  chunks: AsyncIterable<StreamChunk>,
  options: { modelName: string; request: JsonObject; failure: (error: unknown) => unknown },
): AsyncIterableIterator<StreamChunk> {
  const translator: StreamTranslator =
    to === "gemini" ? new OpenAIToGeminiStream(options.modelName, options.request) : new GeminiToOpenAIStream(options.modelName, includesUsage(options.request));
  const wrap = (data: JsonObject): StreamChunk => ({ event: null, data });
  return new ChunkPipe(chunks, (chunk: StreamChunk) => translator.chunk(chunk.data).map(wrap), () => translator.end().map(wrap), options.failure);
}

/** Whether an OpenAI body asks for the usage chunk at the end of its stream. */
export function includesUsage(body: JsonObject): boolean {
  const options = body.stream_options;
  return typeof options === "object" && options !== null && (options as { include_usage?: unknown }).include_usage === true;
}
