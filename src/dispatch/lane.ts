/**
 * A Model's lane in the ModelDispatcher: its slots, the four queues of requests waiting for one, its
 * running attempts, and the rate-limit pause. Plain state; the rules live in model-dispatcher.ts.
 */
import type { EngineError } from "../core/engine.ts";
import { Fifo } from "./fifo.ts";

export interface Waiter {
  grant: () => void;
  reject: (error: EngineError) => void;
  signal: AbortSignal | undefined;
  /** The Batch of a Batch Item (cancelBatch rejects its waiters). */
  batchId: string | undefined;
  onAbort: (() => void) | null;
  /** Granted, aborted or rejected: skipped when met in a queue (removal from a queue is lazy). */
  settled: boolean;
}

export class Lane {
  running = 0;
  /** Unsettled waiters across the queues. */
  queued = 0;
  /** Requests sleeping before a retry. */
  sleeping = 0;
  readonly queues = [new Fifo<Waiter>(), new Fifo<Waiter>(), new Fifo<Waiter>(), new Fifo<Waiter>()];
  paused = false;
  /** Clock time the current pause ends (only meaningful while `paused`). */
  pauseEndMs = 0;
  /** Controllers of running attempts (with their Batch), aborted by close() or cancelBatch. */
  readonly attempts = new Map<AbortController, string | undefined>();

  constructor(
    readonly name: string,
    public concurrency: number,
  ) {}
}


export function nextWaiter(lane: Lane): Waiter | undefined {
  for (const queue of lane.queues) {
    for (let waiter = queue.shift(); waiter !== undefined; waiter = queue.shift()) {
      if (!waiter.settled) return waiter;
    }
  }
  return undefined;
}

export function settle(waiter: Waiter): void {
  waiter.settled = true;
  if (waiter.signal && waiter.onAbort) waiter.signal.removeEventListener("abort", waiter.onAbort);
}

/** Keeps an attempt's slot past its call: wraps the value, and calls `end` once the caller is done with it. */
export type Hold<T> = (value: T, controller: AbortController, end: () => void) => T;

export function once(run: () => void): () => void {
  let done = false;
  return () => {
    if (done) return;
    done = true;
    run();
  };
}
