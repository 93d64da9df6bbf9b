/**
 * The chunks of a streamed reply while it holds its Dispatcher slot (see ModelDispatcher.dispatchStream).
 * `end` (slot and deadline) runs exactly once: when the reply ends, fails, or the reader stops, even before
 * its first chunk (EndingIterator). A reader that stops early aborts the attempt before the Engine's
 * iterator is closed, so the Engine call (an upstream socket, a llama.cpp generation) stops at once; an
 * Engine failure is reported with the Dispatcher's own reason when it caused it (timeout, cancel).
 */
import { EngineError, type StreamChunk } from "../core/engine.ts";
import { EndingIterator } from "../core/ending-iterator.ts";

export function heldStream(source: AsyncIterable<StreamChunk>, abort: (reason: unknown) => void, end: () => void, failure: (error: unknown) => unknown): AsyncIterableIterator<StreamChunk> {
  return new EndingIterator(source, (reason) => {
    let reported: unknown;
    if (reason.how === "failed") {
      reported = failure(reason.error);
      abort(reported);
    } else if (reason.how === "stopped") {
      abort(new EngineError({ kind: "aborted", message: "The reader of the stream stopped before it ended.", retryable: false }));
    }
    end();
    return reported;
  });
}
