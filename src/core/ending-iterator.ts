/**
 * An async iterable with a guaranteed end hook: `onEnd` runs exactly once, when the source finishes, throws,
 * or the reader stops (`break`, `return()`) — including a reader that stops before its first `next()`. An
 * async generator's `finally` does not cover that last case (a generator never started ignores `return()`),
 * and streamed replies hold things that must be given back (a Dispatcher slot, a router's in-flight count,
 * an upstream socket) even when the client hangs up between the headers and the first chunk.
 */
export type EndReason = { how: "done" } | { how: "failed"; error: unknown } | { how: "stopped" };

export class EndingIterator<T> implements AsyncIterableIterator<T> {
  private iterator: AsyncIterator<T> | null = null;
  private ended = false;

  constructor(
    private readonly source: AsyncIterable<T>,
    /** Runs once; for a failure it may return the error the reader is given instead (else the source's). */
    private readonly onEnd: (reason: EndReason) => unknown,
  ) {}

  [Symbol.asyncIterator](): this {
    return this;
  }

  async next(): Promise<IteratorResult<T>> {
    if (this.ended) return { done: true, value: undefined };
    this.iterator ??= this.source[Symbol.asyncIterator]();
    let result: IteratorResult<T>;
    try {
      result = await this.iterator.next();
    } catch (error) {
      if (this.ended) throw error;
      this.ended = true;
      throw this.onEnd({ how: "failed", error }) ?? error;
    }
    if (result.done) this.end({ how: "done" });
    return result;
  }

  async return(): Promise<IteratorResult<T>> {
    if (!this.ended) {
      this.end({ how: "stopped" });
      await this.iterator?.return?.().catch(() => undefined);
    }
    return { done: true, value: undefined };
  }

  private end(reason: EndReason): void {
    if (this.ended) return;
    this.ended = true;
    this.onEnd(reason);
  }
}
