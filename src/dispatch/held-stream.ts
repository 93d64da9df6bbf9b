/**
 * The chunks of a streamed reply while it holds its Dispatcher slot (see ModelDispatcher.dispatchStream).
 * Written as a plain iterator, not an async generator: a generator that was never started ignores
 * `return()` without running its `finally`, so a reader that gives up before reading the first chunk (a
 * client gone between the headers and the body) would keep the slot forever.
 *
 * `end` runs exactly once: when the reply ends, fails, or the reader stops. A reader that stops early aborts
 * the attempt's controller first, so the Engine call (an upstream socket, a llama.cpp generation) stops at
 * once, then closes the Engine's iterator.
 */
import { EngineError, type StreamChunk } from "../core/engine.ts";

export class HeldStream implements AsyncIterableIterator<StreamChunk> {
  private iterator: AsyncIterator<StreamChunk> | null = null;
  private ended = false;

  constructor(
    private readonly source: AsyncIterable<StreamChunk>,
    private readonly controller: AbortController,
    private readonly end: () => void,
    /** What the reader is told of an Engine failure (the Dispatcher prefers its own abort reasons). */
    private readonly failure: (error: unknown) => unknown,
  ) {}

  [Symbol.asyncIterator](): this {
    return this;
  }

  async next(): Promise<IteratorResult<StreamChunk>> {
    if (this.ended) return { done: true, value: undefined };
    this.iterator ??= this.source[Symbol.asyncIterator]();
    try {
      const result = await this.iterator.next();
      if (result.done) this.finish(null);
      return result;
    } catch (error) {
      const reported = this.failure(error);
      this.finish(reported);
      throw reported;
    }
  }

  async return(): Promise<IteratorResult<StreamChunk>> {
    if (!this.ended) {
      this.finish(new EngineError({ kind: "aborted", message: "The reader of the stream stopped before it ended.", retryable: false }));
      await this.iterator?.return?.().catch(() => undefined);
    }
    return { done: true, value: undefined };
  }

  /** `abortReason` null: the reply ended normally and nothing needs stopping. */
  private finish(abortReason: unknown): void {
    if (this.ended) return;
    this.ended = true;
    if (abortReason !== null && !this.controller.signal.aborted) this.controller.abort(abortReason);
    this.end();
  }
}
