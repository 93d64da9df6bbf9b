/**
 * How the Anthropic surface frames a streamed message: every event named (`event: message_start` ...; the
 * SDK skips unnamed events), no terminator beyond the `message_stop` event the reply itself carries, and a
 * failure after the stream began as an `error` event with Anthropic's envelope (the SDK throws it as an
 * APIError of that type).
 */
import { EngineError } from "../../core/engine.ts";
import { anthropicErrorBody } from "../../dialects/anthropic/errors.ts";
import { sseEvent, type EventStreamFormat } from "../shared/event-stream.ts";
import { engineErrorReply } from "./errors.ts";

function streamErrorBody(error: unknown): Record<string, unknown> {
  if (error instanceof EngineError) return engineErrorReply(error).body as Record<string, unknown>;
  return anthropicErrorBody("api_error", "The server had an error while streaming the reply.");
}

export const ANTHROPIC_MESSAGE_STREAM: EventStreamFormat = {
  contentType: "text/event-stream; charset=utf-8",
  chunk: (chunk) => sseEvent({ event: chunk.event ?? (typeof chunk.data.type === "string" ? chunk.data.type : "message"), data: chunk.data }),
  failure: (error) => sseEvent({ event: "error", data: streamErrorBody(error) }),
};
