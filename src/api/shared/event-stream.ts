/**
 * Sends a streamed reply (EngineStream) to the client, framed the way its dialect frames streams
 * (EventStreamFormat: OpenAI and Gemini Server-Sent Events, Gemini's streamed JSON array, ...).
 *
 * The first chunk is awaited before the status line goes out, so a reply that fails before producing
 * anything still gets its dialect's plain error status (the caller's catch maps it); a failure after
 * that can only be told inside the stream, as the dialect's error event, and ends it.
 *
 * Each chunk is written as it arrives (Readable.from keeps backpressure: a slow client slows the reading,
 * it does not fill memory). A client that hangs up closes the iterator at once, which frees the
 * Dispatcher slot and aborts the Engine call; that also holds when it hangs up before the body started
 * (EndingIterator runs its end on `return()` even then).
 */
import { Readable } from "node:stream";
import type { FastifyReply } from "fastify";
import type { EngineStream, StreamChunk } from "../../core/engine.ts";

export interface EventStreamFormat {
  contentType: string;
  /** Written before the first chunk. */
  start?: string;
  /** One chunk, framed; `index` is 0 for the first. */
  chunk(chunk: StreamChunk, index: number): string;
  /** Written after the last chunk of a reply that ended normally. */
  end?: string;
  /** A failure after the stream began (after `count` chunks), framed so the client's parser reports it. */
  failure(error: unknown, count: number): string;
}

/** SSE framing: an optional event name, one `data:` line of JSON, a blank line. */
export function sseEvent(chunk: StreamChunk, lineEnd = "\n"): string {
  const data = `data: ${JSON.stringify(chunk.data)}${lineEnd}${lineEnd}`;
  return chunk.event === null ? data : `event: ${chunk.event}${lineEnd}${data}`;
}

export async function sendEventStream(reply: FastifyReply, stream: EngineStream, format: EventStreamFormat, onFailure?: (error: unknown) => void): Promise<FastifyReply> {
  const iterator = stream.chunks[Symbol.asyncIterator]();
  const stop = (): void => void iterator.return?.();
  reply.raw.once("close", stop);
  let first: IteratorResult<StreamChunk>;
  try {
    first = await iterator.next();
  } catch (error) {
    reply.raw.off("close", stop);
    stop();
    throw error;
  }
  async function* body(): AsyncGenerator<string> {
    let count = 0;
    try {
      if (format.start) yield format.start;
      for (let next = first; !next.done; next = await iterator.next()) {
        yield format.chunk(next.value, count);
        count += 1;
      }
      if (format.end) yield format.end;
    } catch (error) {
      onFailure?.(error);
      yield format.failure(error, count);
    } finally {
      stop();
    }
  }
  if (stream.requestId) reply.header("x-upstream-request-id", stream.requestId);
  return reply
    .code(200)
    .header("cache-control", "no-cache")
    .header("x-accel-buffering", "no")
    .type(format.contentType)
    .send(Readable.from(body(), { objectMode: false }));
}
