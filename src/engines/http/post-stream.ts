/**
 * One POST to an upstream whose 2xx answer is a stream of Server-Sent Events. Failures before the answer
 * begins (a non-2xx, a refused connection, the timeout) throw the same EngineErrors as postJson, so the
 * Dispatcher retries them like any request; a 2xx hands back the events as they arrive. Reading them to the
 * end, or stopping early, releases the connection; the request's signal (and `timeoutMs`) stay armed until
 * then, and a failure mid-stream throws an EngineError from the iterator.
 */
import type { Dispatcher } from "undici";
import { EngineError } from "../../core/engine.ts";
import { abortedError } from "./network-errors.ts";
import { exchangeError, toJsonReply, upstreamRequestId, withTimeout, type PostJsonRequest } from "./post-json.ts";
import { headerValue } from "./retry-after.ts";
import { readSseEvents, type SseEvent } from "./sse-events.ts";

export interface OpenedStream {
  requestId: string | null;
  /** Iterate once. */
  events: AsyncIterable<SseEvent>;
  /** Releases the connection and the timer; the caller calls it once, however the stream ended. */
  close(): void;
}

export async function postStream(request: PostJsonRequest): Promise<OpenedStream> {
  const { signal, cleanup } = withTimeout(request.signal, request.timeoutMs, request.description);
  let response: Dispatcher.ResponseData;
  try {
    if (signal?.aborted) throw abortedError(signal, request.description);
    response = await request.dispatcher.request({ method: "POST", path: request.path, headers: request.headers, body: request.body, signal });
  } catch (error) {
    cleanup();
    throw exchangeError(error, signal, request.description);
  }
  const requestId = upstreamRequestId(response.headers);
  const contentType = headerValue(response.headers, "content-type") ?? "";
  if (response.statusCode < 200 || response.statusCode >= 300 || !contentType.includes("text/event-stream")) {
    try {
      const text = await response.body.text();
      toJsonReply(response.statusCode, response.headers, text, request);
      // A 2xx JSON answer to a streaming request: the upstream ignored `stream` (worth another try elsewhere).
      throw new EngineError({
        kind: "http",
        message: `${request.description} answered ${response.statusCode} with '${contentType}' instead of an event stream.`,
        statusCode: 502,
        body: { error: { message: "Upstream did not stream its answer.", type: "upstream_error", param: null, code: "bad_gateway" } },
        retryable: true,
        requestId,
      });
    } catch (error) {
      throw exchangeError(error, signal, request.description);
    } finally {
      cleanup();
    }
  }
  const body = response.body;
  return {
    requestId,
    events: eventsOf(body, signal, request.description),
    close: () => {
      cleanup();
      if (!body.destroyed) body.destroy();
    },
  };
}

async function* eventsOf(body: Dispatcher.ResponseData["body"], signal: AbortSignal | undefined, description: string): AsyncGenerator<SseEvent> {
  try {
    yield* readSseEvents(body);
  } catch (error) {
    throw exchangeError(error, signal, `${description} (while streaming)`);
  }
}
