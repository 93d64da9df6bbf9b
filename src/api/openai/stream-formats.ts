/**
 * How the OpenAI surface frames streamed replies. Chat and text completions: one `data:` event per chunk and
 * `data: [DONE]` at the end; a failure mid-stream is a `data: {"error": {...}}` event (the SDK's stream
 * reader throws it as an APIError) and no [DONE]. Responses: named events (`event: response.output_text.delta`)
 * and no [DONE]; a failure is an `error` event, as OpenAI sends it.
 */
import type { EventStreamFormat } from "../shared/event-stream.ts";
import { sseEvent } from "../shared/event-stream.ts";
import { EngineError } from "../../core/engine.ts";
import { engineErrorReply } from "./errors.ts";
import { openAIErrorBody } from "../../dialects/openai/errors.ts";

/** The OpenAI error envelope for a failure after the stream began. */
export function streamErrorBody(error: unknown): { error: { message: string; type: string; param: string | null; code: string | null } } {
  if (error instanceof EngineError) {
    const body = engineErrorReply(error).body as ReturnType<typeof openAIErrorBody>;
    return body;
  }
  return openAIErrorBody("The server had an error while streaming the reply.", "server_error", null, "server_error");
}

export const OPENAI_COMPLETION_STREAM: EventStreamFormat = {
  contentType: "text/event-stream; charset=utf-8",
  chunk: (chunk) => sseEvent(chunk),
  end: "data: [DONE]\n\n",
  failure: (error) => `data: ${JSON.stringify(streamErrorBody(error))}\n\n`,
};

export const OPENAI_RESPONSE_STREAM: EventStreamFormat = {
  contentType: "text/event-stream; charset=utf-8",
  chunk: (chunk) => sseEvent(chunk),
  failure: (error) => {
    const { message, code, param } = streamErrorBody(error).error;
    return sseEvent({ event: "error", data: { type: "error", code, message, param } });
  },
};
