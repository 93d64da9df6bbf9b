/**
 * How the Gemini surface frames `streamGenerateContent`: with `alt=sse`, one `data:` event per
 * GenerateContentResponse (lines ending in CRLF, as Google's do) — what the genai SDK asks for; without it,
 * one JSON array whose elements arrive as they are generated (Google's REST default). A failure after the
 * stream began is an element `{"error": {...}}` in Google's envelope, which the genai SDK throws as an
 * ApiError.
 */
import { EngineError } from "../../core/engine.ts";
import { googleErrorBody } from "../../dialects/gemini/errors.ts";
import { sseEvent, type EventStreamFormat } from "../shared/event-stream.ts";
import { engineErrorReply } from "./errors.ts";

function failureBody(error: unknown): unknown {
  return error instanceof EngineError ? engineErrorReply(error).body : googleErrorBody(500, "Internal error encountered while streaming the reply.");
}

export const GEMINI_SSE_STREAM: EventStreamFormat = {
  contentType: "text/event-stream",
  chunk: (chunk) => sseEvent({ event: null, data: chunk.data }, "\r\n"),
  failure: (error) => `data: ${JSON.stringify(failureBody(error))}\r\n\r\n`,
};

export const GEMINI_ARRAY_STREAM: EventStreamFormat = {
  contentType: "application/json; charset=UTF-8",
  start: "[",
  chunk: (chunk, index) => `${index === 0 ? "" : ",\r\n"}${JSON.stringify(chunk.data)}`,
  end: "]",
  failure: (error, count) => `${count === 0 ? "" : ",\r\n"}${JSON.stringify(failureBody(error))}]`,
};
