/**
 * The events of an upstream's stream as StreamChunks: each event's data parsed as one JSON object, in the
 * upstream's own dialect. OpenAI's `data: [DONE]` ends the stream; an event carrying an `error` object (how
 * OpenAI and Google report a failure after the answer began) throws it as an EngineError with its body,
 * so the API can pass the failure on in the client's dialect.
 */
import { EngineError, type StreamChunk } from "../../core/engine.ts";
import type { SseEvent } from "./sse-events.ts";

export async function* jsonChunks(
  events: AsyncIterable<SseEvent>,
  options: { description: string; requestId: string | null; rewrite?: (data: Record<string, unknown>) => void },
): AsyncGenerator<StreamChunk> {
  for await (const event of events) {
    if (event.data === "[DONE]") return;
    let data: unknown;
    try {
      data = JSON.parse(event.data);
    } catch {
      throw new EngineError({
        kind: "http",
        message: `${options.description} sent a stream event that is not JSON.`,
        statusCode: 502,
        body: { error: { message: "Upstream sent a stream event that is not JSON.", type: "upstream_error", param: null, code: "bad_gateway" } },
        retryable: false,
        requestId: options.requestId,
      });
    }
    if (typeof data !== "object" || data === null || Array.isArray(data)) continue;
    const record = data as Record<string, unknown>;
    const error = record.error;
    if (typeof error === "object" && error !== null) {
      const code = (error as { code?: unknown }).code;
      const message = (error as { message?: unknown }).message;
      throw new EngineError({
        kind: "http",
        message: `${options.description} failed while streaming${typeof message === "string" ? `: ${message.slice(0, 300)}` : ""}.`,
        statusCode: typeof code === "number" && code >= 400 && code < 600 ? code : 500,
        body: record,
        retryable: false,
        requestId: options.requestId,
      });
    }
    options.rewrite?.(record);
    yield { event: event.event, data: record };
  }
}
