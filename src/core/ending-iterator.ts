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
      // Closed even when never read: a source that is itself an EndingIterator (or a ChunkPipe over one)
      // has an end of its own to run.
      this.iterator ??= this.source[Symbol.asyncIterator]();
      await this.iterator.return?.().catch(() => undefined);
    }
    return { done: true, value: undefined };
  }

  private end(reason: EndReason): void {
    if (this.ended) return;
    this.ended = true;
    this.onEnd(reason);
  }
}

/**
 * Each item of `source` turned into zero or more items (`step`), and `flush` at its end: a stateful
 * translation of a stream, one chunk in, the chunks it implies out. `return()` closes the source even when
 * it was never read, so the source's own end runs (see EndingIterator). `failure` may replace the
 * source's error (for a body in another dialect).
 */
export class ChunkPipe<T, U> implements AsyncIterableIterator<U> {
  private iterator: AsyncIterator<T> | null = null;
  private readonly ready: U[] = [];
  private finished = false;

  constructor(
    private readonly source: AsyncIterable<T>,
    private readonly step: (item: T) => U[],
    private readonly flush: () => U[],
    private readonly failure: (error: unknown) => unknown = (error) => error,
  ) {}

  [Symbol.asyncIterator](): this {
    return this;
  }

  async next(): Promise<IteratorResult<U>> {
    for (;;) {
      const item = this.ready.shift();
      if (item !== undefined) return { done: false, value: item };
      if (this.finished) return { done: true, value: undefined };
      this.iterator ??= this.source[Symbol.asyncIterator]();
      let result: IteratorResult<T>;
      try {
        result = await this.iterator.next();
      } catch (error) {
        this.finished = true;
        throw this.failure(error);
      }
      if (result.done) {
        this.finished = true;
        this.ready.push(...this.flush());
      } else {
        this.ready.push(...this.step(result.value));
      }
    }
  }

  async return(): Promise<IteratorResult<U>> {
    if (!this.finished) {
      this.finished = true;
      this.ready.length = 0;
      this.iterator ??= this.source[Symbol.asyncIterator]();
      await this.iterator.return?.().catch(() => undefined);
    }
    return { done: true, value: undefined };
  }
}
