/**
 * A Model's lane in the ModelDispatcher: the four FIFO queues of requests waiting for a slot, and the
 * Model's backends (`BackendLane`), each with its own slots (the adaptive limit), pause after a 429 with
 * Retry-After, deadlines and, when the Model has several, circuit breaker. A Model without `backends` has
 * one. Requests wait per Model and take a backend only when granted a slot (late binding), so a queued
 * request goes to whichever backend frees a slot first that it may use. State only; the Dispatcher drives it.
 *
 * Sync first (decision 0025): overtaking queued Batch requests is not enough for a person waiting, because
 * the slots are already full of Batch requests and the upstream serves what it holds first. A sync request
 * arriving behind 64 Batch requests at an upstream doing 8,000 a second waits their 8 ms there (measured:
 * its round trip was the Batch requests' round trip, its slot wait under 1 ms). So while sync requests run
 * or arrived within `quietMs`, Batch requests may hold only `batchShare` of the lane's slots (at least one,
 * so a Batch never stops); the rest wait queued, leased, until the sync traffic has been quiet that long.
 * With a fast upstream the event loop, not the slots, is what a sync request waits for: the share then
 * shrinks further while the loop lags (loop-pressure.ts).
 */
import type { ModelConfig } from "../config/config.ts";
import { backendsOf } from "../config/backends.ts";
import type { BackendLoad } from "../core/dispatcher.ts";
import { EngineError, type Engine } from "../core/engine.ts";
import { AdaptiveLimit, isOverloadStatus, type AdaptiveLimitOptions } from "./adaptive-limit.ts";
import { backendAllowances } from "./backend-allowance.ts";
import { BREAKER_DEFAULTS, breakerOutcome, CircuitBreaker } from "./circuit-breaker.ts";
import { Fifo } from "./fifo.ts";
import { NO_PRESSURE, type LoopPressureReading } from "./loop-pressure.ts";

export type { LoopPressureReading } from "./loop-pressure.ts";
import { SharedDeadlines } from "./shared-deadlines.ts";

/** What Batch requests may hold while sync requests are about (ModelConfig `syncFirst`). */
export const SYNC_FIRST_DEFAULTS = { batchShare: 0.25, quietMs: 1_000 };
export type SyncFirst = typeof SYNC_FIRST_DEFAULTS;

/** Re-plan backend allowances at most this often (clock ms) while requests flow. */
const PLAN_EVERY_MS = 200;

/** Queue ranks, taken lowest first. */
export const SYNC_RETRY = 0;
export const SYNC = 1;
/** Batch retries, and a new Batch's first claim (DispatchRequest.first): both waited once already. */
export const BATCH_RETRY = 2;
export const BATCH = 3;

export const isSyncRank = (rank: number): boolean => rank === SYNC || rank === SYNC_RETRY;

export interface Waiter {
  grant: (backend: BackendLane) => void;
  reject: (error: EngineError) => void;
  signal: AbortSignal | undefined;
  /** The Batch of a Batch Item (cancelBatch rejects its waiters). */
  batchId: string | undefined;
  /** A failover: the backend that just failed it, avoided while another is usable. */
  avoid: BackendLane | null;
  /** Stops watching the caller's signal (AbortWatchers); null without a signal. */
  unwatch: (() => void) | null;
  /** Granted, aborted or rejected: skipped when met in a queue (removal from a queue is lazy). */
  settled: boolean;
}

export class BackendLane {
  running = 0;
  /** The in-flight limit: the backend's `concurrency` (or this process's share of it) as a ceiling, learned below it. */
  readonly limit: AdaptiveLimit;
  readonly adaptive: boolean;
  paused = false;
  /** Clock time the current pause ends (only meaningful while `paused`). */
  pauseEndMs = 0;
  /** Signals of running attempts, aborted by close() and cancelBatch(). */
  readonly deadlines: SharedDeadlines;
  /** Batch requests it may run at once (backend-allowance.ts); its whole limit unless dearer than needed. */
  allowance = Infinity;
  /** Batch requests it may start per second when only part of it is needed (a token bucket), else null. */
  private spillRate: number | null = null;
  private tokens = 0;
  private tokensAtMs = 0;
  /** Attempts served (succeeded) and failed with a backend fault, since creation (metrics, tests). */
  served = 0;
  faults = 0;
  /** Smoothed latency of its successes (ms), null before the first: its pace, for the allowances. */
  latencyMs: number | null = null;

  constructor(
    /** Its name in metrics (`backendName`; the Model's name when it has no `backends`). */
    readonly name: string,
    readonly model: ModelConfig,
    readonly engine: Engine,
    ceiling: number,
    adaptive: AdaptiveLimitOptions | null,
    readonly breaker: CircuitBreaker | null,
    abortReason: (reason: unknown) => EngineError,
  ) {
    this.deadlines = new SharedDeadlines(abortReason);
    this.ceiling = ceiling;
    // Not adaptive: a limit that starts at the ceiling and never hears of overload (see `attemptEnded`).
    this.limit = new AdaptiveLimit(ceiling, adaptive ?? { initial: ceiling });
    this.adaptive = adaptive !== null;
  }

  /**
   * The ceiling as given: the backend's `concurrency`, or the slots this process holds of it, which may be 0
   * (another process holds them all). The adaptive limit's own ceiling is at least 1.
   */
  ceiling: number;

  /** Attempts that may run at once now. */
  get concurrency(): number {
    return Math.min(this.limit.current, this.ceiling);
  }

  load(): BackendLoad {
    const breaker = this.breaker?.state ?? "closed";
    return { name: this.name, running: this.running, concurrency: this.concurrency, allowance: Math.min(this.allowance, this.concurrency), breaker, served: this.served, faults: this.faults };
  }

  /** Whether a request of this kind may start here now (`full`: sync and failovers, beyond the allowance). */
  canTake(full: boolean, nowMs: number): boolean {
    if (this.paused || this.running >= (full ? this.concurrency : Math.min(this.allowance, this.concurrency))) return false;
    if (this.breaker !== null && !this.breaker.admits()) return false;
    return full || this.spillRate === null || this.refill(nowMs) >= 1;
  }

  /** A granted request starts here. */
  start(): void {
    this.running += 1;
    this.breaker?.started();
  }

  /** A request granted after `canTake(full)`: a Batch request spends a token of the spill rate. */
  took(full: boolean): void {
    if (!full && this.spillRate !== null) this.tokens -= 1;
  }

  /** A new allowance: `slots` at once, and at most `rate` starts per second (null: no rate). */
  allow(slots: number, rate: number | null, nowMs: number): void {
    this.allowance = slots;
    if (rate !== null && this.spillRate === null) {
      this.tokens = 1;
      this.tokensAtMs = nowMs;
    }
    this.spillRate = rate;
  }

  /** Ms until a Batch start is allowed by the spill rate (0: now; null: the rate does not hold it). */
  msUntilToken(nowMs: number): number | null {
    if (this.spillRate === null || this.spillRate <= 0) return null;
    const missing = 1 - this.refill(nowMs);
    return missing <= 0 ? 0 : Math.ceil((missing / this.spillRate) * 1000);
  }

  /** Tokens now: the rate accrued since the last look, at most a quarter second's worth (and one). */
  private refill(nowMs: number): number {
    const rate = this.spillRate ?? 0;
    const elapsed = Math.max(0, nowMs - this.tokensAtMs) / 1000;
    this.tokens = Math.min(Math.max(1, rate / 4), this.tokens + rate * elapsed);
    this.tokensAtMs = nowMs;
    return this.tokens;
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
   * the limit, an overload status lowers it; the breaker hears of it. True when the limit rose or the
   * breaker closed (waiters may be granted).
   */
  attemptEnded(number: number, durationMs: number, failure: unknown): boolean {
    const wasAdmitting = this.breaker?.admits() ?? true;
    this.breaker?.ended(breakerOutcome(failure));
    const reopened = !wasAdmitting && (this.breaker?.admits() ?? true);
    if (failure === null) {
      this.served += 1;
      this.latencyMs = this.latencyMs === null ? durationMs : this.latencyMs * 0.9 + durationMs * 0.1;
    } else if (breakerOutcome(failure) === "fault") this.faults += 1;
    if (!this.adaptive) return reopened;
    if (failure === null) {
      const before = this.limit.current;
      this.limit.succeeded(number, durationMs, this.running);
      return reopened || this.limit.current > before;
    }
    if (failure instanceof EngineError && isOverloadStatus(failure.statusCode)) this.limit.overloaded(number);
    return reopened;
  }
}

export class Lane {
  /** Unsettled waiters across the queues. */
  queued = 0;
  /** Requests sleeping before a retry. */
  sleeping = 0;
  readonly queues = [new Fifo<Waiter>(), new Fifo<Waiter>(), new Fifo<Waiter>(), new Fifo<Waiter>()];
  /** Batch Items per second the queued deadlines need (Dispatcher.setDeadlineDemand); 0: none pressing. */
  demand = 0;
  /** Clock time the allowances were last planned. */
  plannedAtMs = -Infinity;
  /** Pumps due later (ModelDispatcher.pump): when a spill rate allows the next start, when the yield ends. */
  readonly wakes = new Set<"spill" | "yield">();
  /** Slots held by sync requests and by Batch requests, across backends. */
  syncRunning = 0;
  batchRunning = 0;
  /** Clock time until which Batch requests yield to sync ones (the last sync arrival or end + quietMs). */
  yieldUntilMs = -Infinity;

  constructor(
    readonly name: string,
    /** Cheapest first (`priceRank`); one for a Model without `backends`. */
    readonly backends: readonly BackendLane[],
    readonly syncFirst: SyncFirst = SYNC_FIRST_DEFAULTS,
    /** The event loop's load (loop-pressure.ts): shrinks the yielded Batch share further while it lags. */
    private readonly pressure: LoopPressureReading = NO_PRESSURE,
  ) {}

  /** A request of queue `rank` asks for a slot: a sync one makes Batch requests yield from now on. */
  arrived(rank: number, nowMs: number): void {
    if (isSyncRank(rank)) this.yieldUntilMs = Math.max(this.yieldUntilMs, nowMs + this.syncFirst.quietMs);
  }

  /** A request of queue `rank` was granted a slot of `backend`. */
  started(backend: BackendLane, rank: number): void {
    backend.start();
    if (isSyncRank(rank)) this.syncRunning += 1;
    else this.batchRunning += 1;
  }

  /** A request gave its slot of `backend` back. */
  ended(backend: BackendLane, sync: boolean, nowMs: number): void {
    backend.running -= 1;
    if (!sync) {
      this.batchRunning -= 1;
      return;
    }
    this.syncRunning -= 1;
    this.yieldUntilMs = Math.max(this.yieldUntilMs, nowMs + this.syncFirst.quietMs);
  }

  /** Whether Batch requests yield now: sync requests run, or one arrived or ended within `quietMs`. */
  yielding(nowMs: number): boolean {
    return this.syncRunning > 0 || nowMs < this.yieldUntilMs;
  }

  /**
   * Slots Batch requests may hold while yielding: their share of the lane's limit, less while the event loop
   * lags (a share of 1, sync first turned off, stays whole); at least one.
   */
  get yieldedBatchSlots(): number {
    const share = this.syncFirst.batchShare >= 1 ? 1 : this.syncFirst.batchShare * this.pressure.factor;
    return Math.max(1, Math.floor(this.concurrency * share));
  }

  /** The slots Batch requests may hold while they yield (yieldedBatchSlots); null when they do not yield. */
  batchSlots(nowMs: number): number | null {
    return this.yielding(nowMs) ? this.yieldedBatchSlots : null;
  }

  /**
   * Whether a Batch request may take a slot now, as far as sync requests are concerned. The loop's pressure
   * is asked only while yielding: asking is what keeps it measured (loop-pressure.ts).
   */
  batchMayStart(nowMs: number): boolean {
    return !this.yielding(nowMs) || this.batchRunning < this.yieldedBatchSlots;
  }

  /**
   * Ms until the yield ends and Batch requests held only by it may start; null when none is held by it, or
   * when a running sync request will end it (its release pumps the lane).
   */
  msUntilYieldEnds(nowMs: number): number | null {
    if (this.syncRunning > 0 || nowMs >= this.yieldUntilMs || this.batchRunning < this.yieldedBatchSlots) return null;
    return this.yieldUntilMs - nowMs;
  }

  get running(): number {
    return this.backends.reduce((sum, backend) => sum + backend.running, 0);
  }

  get concurrency(): number {
    return this.backends.reduce((sum, backend) => sum + backend.concurrency, 0);
  }

  /**
   * The backend a request of queue `rank` takes now, or null when none may: the cheapest that can take it,
   * skipping `avoid` (a failover) while any other backend is not open. Batch requests stay within each
   * backend's allowance; sync requests and failovers may use any backend's whole limit.
   */
  pick(rank: number, avoid: BackendLane | null, nowMs: number): BackendLane | null {
    const sync = isSyncRank(rank);
    if (!sync && !this.batchMayStart(nowMs)) return null;
    const full = sync || avoid !== null;
    const skip = avoid !== null && this.backends.some((backend) => backend !== avoid && (backend.breaker?.state ?? "closed") !== "open") ? avoid : null;
    for (const backend of this.backends) {
      if (backend === skip || !backend.canTake(full, nowMs)) continue;
      backend.took(full);
      return backend;
    }
    return null;
  }

  /** Ms until a spill rate lets a waiting Batch request start on a backend with a free slot; null: none waits on a rate. */
  msUntilSpill(nowMs: number): number | null {
    let soonest: number | null = null;
    for (const backend of this.backends) {
      const ms = backend.running < Math.min(backend.allowance, backend.concurrency) ? backend.msUntilToken(nowMs) : null;
      if (ms !== null && ms > 0 && (soonest === null || ms < soonest)) soonest = ms;
    }
    return soonest;
  }

  /**
   * The next waiter to grant and the backend it takes, taken off its queue and settled; null when none can
   * go now. The oldest waiter of each rank, best rank first, takes the cheapest backend it may use; one
   * that may use none (a Batch request while only dearer backends beyond their allowance have room, or
   * while Batch requests yield to sync ones) leaves the slot to the next rank.
   */
  nextGrant(nowMs: number): { waiter: Waiter; backend: BackendLane; rank: number } | null {
    if (this.queued === 0) return null;
    for (const [rank, queue] of this.queues.entries()) {
      let waiter = queue.peek();
      while (waiter?.settled) {
        queue.shift();
        waiter = queue.peek();
      }
      if (waiter === undefined) continue;
      const backend = this.pick(rank, waiter.avoid, nowMs);
      if (backend === null) continue;
      queue.shift();
      settle(waiter);
      this.queued -= 1;
      return { waiter, backend, rank };
    }
    return null;
  }

  /** Re-plans the allowances when the last plan is older than PLAN_EVERY_MS (paces move as answers come). */
  planIfStale(nowMs: number): void {
    if (this.backends.length > 1 && nowMs - this.plannedAtMs >= PLAN_EVERY_MS) this.planAllowances(nowMs);
  }

  /** Re-plans each backend's Batch allowance from the demand and what is known of their pace. */
  planAllowances(nowMs: number): void {
    this.plannedAtMs = nowMs;
    if (this.backends.length === 1) return;
    const allowances = backendAllowances(
      this.backends.map((backend) => ({ limit: backend.concurrency, latencyMs: backend.latencyMs, usable: backend.breaker?.state !== "open" })),
      this.demand,
    );
    for (const [index, backend] of this.backends.entries()) backend.allow(allowances[index]?.slots ?? 0, allowances[index]?.rate ?? null, nowMs);
  }
}

/** Granted, aborted or rejected: no longer listening to its caller's signal. */
export function settle(waiter: Waiter): void {
  waiter.settled = true;
  waiter.unwatch?.();
  waiter.unwatch = null;
}

/** The lanes of `model`'s backends, cheapest first; `engineFor` gives each its Engine, `ceiling` its slots. */
export function backendLanes(model: ModelConfig, deps: { engineFor: (backend: ModelConfig) => Engine; ceiling: (backend: ModelConfig) => number; now: () => number; abortReason: (reason: unknown) => EngineError }): BackendLane[] {
  const several = model.backends !== undefined;
  const lanes = backendsOf(model).map((backend) => {
    const breaker = several ? new CircuitBreaker({ ...BREAKER_DEFAULTS, ...model.breaker }, deps.now) : null;
    return new BackendLane(backend.backendName ?? model.name, backend, deps.engineFor(backend), deps.ceiling(backend), adaptiveOptions(backend), breaker, deps.abortReason);
  });
  // Stable: equal (or no) prices keep the config's order.
  return lanes.map((lane, index) => ({ lane, index })).sort((a, b) => priceRank(a.lane.model) - priceRank(b.lane.model) || a.index - b.index).map(({ lane }) => lane);
}

/**
 * What ranks backends by price: USD per 1M tokens at their Batch price, input and output blended 3:1 (a
 * common blend: prompts are longer than answers). Unpriced: all equal.
 */
export function priceRank(model: ModelConfig): number {
  const price = model.price;
  if (price === undefined) return 0;
  return ((3 * price.input + price.output) / 4) * (1 - (price.batchDiscount ?? 0));
}

/** A Model's AIMD settings, or null when its limit is fixed at the ceiling (`adaptive: false`). */
export function adaptiveOptions(model: ModelConfig): AdaptiveLimitOptions | null {
  const setting = model.adaptive ?? (model.engine !== "llama-cpp");
  if (setting === false) return null;
  return setting === true ? {} : setting;
}
