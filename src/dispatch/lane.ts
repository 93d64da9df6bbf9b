/**
 * A Model's lane in the ModelDispatcher: its slots (the adaptive limit), the four FIFO queues of requests
 * waiting for one, and the pause a 429 with Retry-After puts on it. State only; the Dispatcher drives it.
 */
import type { ModelConfig } from "../config/config.ts";
import { EngineError } from "../core/engine.ts";
import { AdaptiveLimit, isOverloadStatus, type AdaptiveLimitOptions } from "./adaptive-limit.ts";
import { Fifo } from "./fifo.ts";
import { SharedDeadlines } from "./shared-deadlines.ts";

/** Queue ranks, taken lowest first. */
export const SYNC_RETRY = 0;
export const SYNC = 1;
export const BATCH_RETRY = 2;
export const BATCH = 3;

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
  /** The in-flight limit: the Model's `concurrency` (or this process's share of it) as a ceiling, learned below it. */
  readonly limit: AdaptiveLimit;
  /** Unsettled waiters across the queues. */
  queued = 0;
  /** Requests sleeping before a retry. */
  sleeping = 0;
  readonly queues = [new Fifo<Waiter>(), new Fifo<Waiter>(), new Fifo<Waiter>(), new Fifo<Waiter>()];
  paused = false;
  /** Clock time the current pause ends (only meaningful while `paused`). */
  pauseEndMs = 0;
  /** Signals of running attempts, aborted by close(). */
  readonly deadlines: SharedDeadlines;

  constructor(
    readonly name: string,
    ceiling: number,
    adaptive: AdaptiveLimitOptions | null,
    abortReason: (reason: unknown) => EngineError,
  ) {
    this.deadlines = new SharedDeadlines(abortReason);
    this.ceiling = ceiling;
    // Not adaptive: a limit that starts at the ceiling and never hears of overload (see `attempt`).
    this.limit = new AdaptiveLimit(ceiling, adaptive ?? { initial: ceiling });
    this.adaptive = adaptive !== null;
  }

  readonly adaptive: boolean;

  /**
   * The ceiling as given: the Model's `concurrency`, or the slots this process holds of it, which may be 0
   * (another process holds them all). The adaptive limit's own ceiling is at least 1.
   */
  ceiling: number;

  /** Attempts that may run at once now. */
  get concurrency(): number {
    return Math.min(this.limit.current, this.ceiling);
  }

  /** A new ceiling (a changed share or config); true when it rose, so waiters may be granted. */
  setCeiling(ceiling: number): boolean {
    const before = this.ceiling;
    this.ceiling = ceiling;
    // Not adaptive: the limit is the ceiling, up or down.
    if (this.adaptive) this.limit.setCeiling(ceiling);
    else this.limit.fixAt(ceiling);
    return ceiling > before;
  }

  /**
   * Attempt `number` (from `limit.started()`) ended: a success after `durationMs` (failure null) may raise
   * the limit, an overload status lowers it. True when the limit rose.
   */
  attemptEnded(number: number, durationMs: number, failure: unknown): boolean {
    if (!this.adaptive) return false;
    if (failure === null) {
      const before = this.limit.current;
      this.limit.succeeded(number, durationMs, this.running);
      return this.limit.current > before;
    }
    if (failure instanceof EngineError && isOverloadStatus(failure.statusCode)) this.limit.overloaded(number);
    return false;
  }
}

/** A Model's AIMD settings, or null when its limit is fixed at the ceiling (`adaptive: false`). */
export function adaptiveOptions(model: ModelConfig): AdaptiveLimitOptions | null {
  const setting = model.adaptive ?? (model.engine !== "llama-cpp");
  if (setting === false) return null;
  return setting === true ? {} : setting;
}

