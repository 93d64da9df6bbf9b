/**
 * ModelDispatcher: the Dispatcher contract (src/core/dispatcher.ts) over the configured Engines.
 *
 * One lane per Model. A lane runs at most its limit of attempts at once: `model.concurrency` (or this
 * process's share of it, `ceiling`) as a ceiling, and below it a limit learned from the upstream's answers
 * (AIMD, src/dispatch/adaptive-limit.ts; `adaptive: false` fixes it at the ceiling). Requests beyond that wait
 * in four FIFO queues taken in this order: sync retries, sync, batch retries, batch. Sync requests (the
 * API's synchronous endpoints, a person waiting) overtake queued Batch Items; a request coming back for a
 * retry goes ahead of fresh requests of its priority, since it has already waited once.
 *
 * Retries: an EngineError with `retryable` is tried again up to `model.maxRetries` times, after
 * `retryDelayMs` (capped exponential backoff with full jitter, or the server's Retry-After within a cap;
 * src/core/retry-policy.ts). A retrying request gives its slot back while it sleeps, so one request
 * backing off does not idle a slot another could use. But a 429 with Retry-After says the *upstream* is
 * saturated, not this request: the lane then pauses new starts until the Retry-After passes (capped like
 * the retry delay), instead of letting the other queued requests run into the same 429 and spend their
 * retries. Requests already running are left to finish. The same 429 (and any 503/529) also lowers the
 * adaptive limit, so the lane resumes below the level that overloaded the upstream.
 *
 * Batch Items claimed together may share calls: `dispatchItems` packs single-input embedding requests
 * (src/dispatch/embedding-packs.ts); a pack takes one slot and is retried as a whole like one request.
 *
 * Streams (`dispatchStream`): an attempt ends when the reply has begun (Engine.stream resolved), so failures
 * before the first chunk are retried as usual; the slot and the attempt's deadline stay with the stream
 * until it ends, fails or its reader stops (held-stream.ts), and a reader that stops early aborts the
 * Engine call. So streamed and plain sync requests share one concurrency limit, and a streaming client
 * that hangs up frees its slot (and its llama.cpp sequence, or its upstream socket) at once.
 *
 * Cancelled Batches (`cancelBatch`): requests carry their Batch id; cancelling rejects the Batch's waiters
 * at once, aborts its running attempts (their deadline windows are per Batch; unless `cancelRunning:
 * "finish"`), and remembers the id so a request of it dispatched or woken from a retry sleep later fails
 * before it starts. A Worker claims about twice a Model's concurrency ahead, so without this up to that
 * many Items already claimed went on to the upstream after the cancel was answered.
 *
 * Each attempt gets an AbortSignal that fires on the Model's `timeoutMs` (an EngineError "timeout",
 * retryable) or on the caller's signal (an EngineError "aborted", never retried). Batch attempts that start
 * close together share one (src/dispatch/shared-deadlines.ts): one controller and one timer per window
 * instead of per attempt. Timers are plain setTimeouts cleared when no attempt needs them:
 * `AbortSignal.timeout()` cannot be cleared, and at thousands of requests a second with a 10-minute timeout
 * it would keep millions of timers alive.
 */
import { setMaxListeners } from "node:events";
import type { Logger } from "pino";
import type { ModelConfig } from "../config/config.ts";
import { systemClock, type Clock } from "../core/clock.ts";
import type { DispatchedItems, DispatchRequest, Dispatcher } from "../core/dispatcher.ts";
import { AppError } from "../core/errors.ts";
import { NO_METRICS, type Metrics } from "../core/metrics.ts";
import { RETRY_DEFAULTS, retryDelayMs } from "../core/retry-policy.ts";
import { EngineError, type Engine, type EngineReply, type EngineStream } from "../core/engine.ts";
import { heldStream } from "./held-stream.ts";
import { cancelledError, once, type Hold, type RunOptions } from "./run-options.ts";
import { adaptiveOptions, BATCH, BATCH_RETRY, Lane, SYNC, SYNC_RETRY, type Waiter } from "./lane.ts";
import { dispatchPacked, runEnginePack, type PackOutcome, type PlannedPack } from "./embedding-packs.ts";

/** Resolves after `ms`; should reject (or resolve) early when `signal` fires. Injected by tests. */
export type Sleep = (ms: number, signal: AbortSignal) => Promise<void>;

export interface ModelDispatcherOptions {
  resolve: (modelName: string) => { engine: Engine; model: ModelConfig } | undefined;
  clock?: Clock;
  sleep?: Sleep;
  logger?: Logger;
  /** Jitter source for retry delays. */
  random?: () => number;
  retry?: { baseMs?: number; capMs?: number; maxRetryAfterMs?: number };
  /** Told of every Engine call's duration and outcome, and of every retry (in-memory counters only). */
  metrics?: Metrics;
  /**
   * This process's share of a Model's `concurrency` when several processes share one upstream (see
   * src/worker/capacity-shares.ts); the lane's ceiling. Default: all of it.
   */
  ceiling?: (model: ModelConfig) => number;
  /** Told when a request must wait because this process holds no slots of its Model (a ceiling of 0). */
  onStarved?: (modelName: string) => void;
  /** What cancelBatch does to running requests (config `worker.cancelRunning`). Default "abort". */
  cancelRunning?: "abort" | "finish";
}

/** Cancelled Batch ids remembered for late requests; the oldest are forgotten beyond this. */
const MAX_CANCELLED_BATCHES = 10_000;

export class ModelDispatcher implements Dispatcher {
  private readonly lanes = new Map<string, Lane>();
  private readonly clock: Clock;
  private readonly sleep: Sleep;
  private readonly random: () => number;
  private readonly retry: { baseMs: number; capMs: number; maxRetryAfterMs: number };
  private readonly metrics: Metrics;
  // Every request sleeping before a retry listens to this one signal: thousands at once are expected, so
  // Node's leak warning (more than 10 listeners) would be a false alarm.
  private readonly closing = unlimitedListeners(new AbortController());
  private readonly cancelledBatches = new Set<string>();

  constructor(private readonly options: ModelDispatcherOptions) {
    this.clock = options.clock ?? systemClock;
    this.sleep = options.sleep ?? sleepWithTimer;
    this.random = options.random ?? Math.random;
    this.retry = { ...RETRY_DEFAULTS, ...options.retry };
    this.metrics = options.metrics ?? NO_METRICS;
  }

  async dispatch(request: DispatchRequest): Promise<EngineReply> {
    if (this.closing.signal.aborted) throw closedError(request.model);
    const { engine, model } = this.resolve(request.model);
    return this.run(model, { sync: request.priority === "sync", signal: request.signal, batchId: request.batchId }, (signal) =>
      engine.execute({ kind: request.kind, dialect: request.dialect, body: request.body, model, signal, owner: request.owner ?? null }),
    );
  }

  async dispatchStream(request: DispatchRequest): Promise<EngineStream> {
    if (this.closing.signal.aborted) throw closedError(request.model);
    const { engine, model } = this.resolve(request.model);
    if (engine.stream === undefined) {
      throw new EngineError({ kind: "unsupported", message: `Model '${model.name}' (engine ${engine.name}) cannot stream replies.`, statusCode: 400, retryable: false });
    }
    const open = engine.stream.bind(engine);
    return this.run(
      model,
      { sync: request.priority === "sync", signal: request.signal, batchId: request.batchId },
      (signal) => open({ kind: request.kind, dialect: request.dialect, body: request.body, model, signal, owner: request.owner ?? null }),
      (stream, abort, signal, end) => ({ requestId: stream.requestId, chunks: heldStream(stream.chunks, abort, end, (error) => attemptError(error, signal)) }),
    );
  }

  dispatchItems(requests: readonly DispatchRequest[]): DispatchedItems {
    return dispatchPacked(requests, {
      resolve: (name) => this.options.resolve(name),
      single: (request) => this.dispatch(request),
      pack: (pack) => this.dispatchPack(pack),
    });
  }

  /**
   * One Engine call for a pack, retried as a whole like a single request. A failure that another try
   * cannot fix (a 4xx naming one input, a reply that cannot be split, a bug) says nothing about which
   * member caused it, so every member then runs alone: one bad input fails only its own Item. Retryable
   * failures that outlive their retries, and aborts, are the upstream's or spool's, not an input's: every
   * member gets them as they are, instead of multiplying the retries by the pack size.
   */
  private async dispatchPack(pack: PlannedPack): Promise<PackOutcome[]> {
    if (this.closing.signal.aborted) throw closedError(pack.model.name);
    const { engine, model, dialect, signal } = pack;
    try {
      // Packs never mix Batches (embedding-packs.ts keys them by Batch too).
      const results = await this.run(model, { sync: false, signal, batchId: pack.requests[0]?.batchId }, (attemptSignal) => runEnginePack(engine, { dialect, bodies: pack.requests.map((request) => request.body), model, signal: attemptSignal }));
      return results.map((result) => (result instanceof EngineError ? { ok: false, error: result } : { ok: true, reply: result }));
    } catch (failure) {
      if (failure instanceof EngineError && (failure.retryable || failure.kind === "aborted")) throw failure;
      if (this.closing.signal.aborted || signal?.aborted) throw failure;
      const level = failure instanceof EngineError ? "debug" : "error";
      this.options.logger?.[level]({ err: failure, model: model.name, size: pack.requests.length }, "packed embedding call failed; running its items one by one");
      return Promise.all(pack.requests.map((request) => this.dispatch(request).then((reply): PackOutcome => ({ ok: true, reply }), (error: unknown): PackOutcome => ({ ok: false, error }))));
    }
  }

  /**
   * Runs `call` in a slot of `model`'s lane, retrying retryable EngineErrors (see the file comment). With
   * `hold`, a successful attempt keeps its slot and deadline: `hold` wraps the value and calls `end` (once)
   * when the caller is done with it.
   */
  private async run<T>(model: ModelConfig, request: RunOptions, call: (signal: AbortSignal) => Promise<T>, hold?: Hold<T>): Promise<T> {
    const { sync, signal, batchId } = request;
    const lane = this.laneOf(model);
    for (let retry = 0; ; retry += 1) {
      if (signal?.aborted) throw callerAbortedError(model.name, signal.reason);
      if (batchId !== undefined && this.cancelledBatches.has(batchId)) throw cancelledError(batchId, false);
      const waiting = this.acquire(lane, retry === 0 ? (sync ? SYNC : BATCH) : sync ? SYNC_RETRY : BATCH_RETRY, signal, batchId);
      if (waiting !== null) await waiting;
      // Granted in the same tick the Batch was cancelled: the waiter was no longer in a queue to reject.
      if (batchId !== undefined && this.cancelledBatches.has(batchId)) {
        this.release(lane);
        throw cancelledError(batchId, false);
      }
      let failure: unknown;
      let held = false;
      const holdSlot: Hold<T> | undefined =
        hold &&
        ((value, abort, attemptSignal, end) => {
          held = true;
          return hold(value, abort, attemptSignal, () => {
            end();
            this.release(lane);
          });
        });
      try {
        return await this.attempt(lane, model, { signal, batchId, shared: !sync }, call, holdSlot);
      } catch (error) {
        failure = error;
      } finally {
        if (!held) this.release(lane);
      }
      // Not an EngineError: a bug in spool or an engine, not a failed request; retrying will not help.
      if (!(failure instanceof EngineError)) throw failure;
      if (signal?.aborted) throw callerAbortedError(model.name, signal.reason);
      // The pause protects the other requests of the lane, so it applies even when this one stops here.
      if (failure.statusCode === 429 && failure.retryAfterMs !== null && failure.retryAfterMs > 0 && !this.closing.signal.aborted) {
        this.pauseLane(lane, Math.min(failure.retryAfterMs, this.retry.maxRetryAfterMs));
      }
      if (!failure.retryable || retry >= model.maxRetries || this.closing.signal.aborted) throw failure;
      const delayMs = retryDelayMs({ attempt: retry + 1, retryAfterMs: failure.retryAfterMs, random: this.random, ...this.retry });
      if (delayMs === null) throw failure;
      this.metrics.retryScheduled(model.name, failure);
      // One line per failed try that will be retried; the try that ends an Item is logged by the Worker.
      this.options.logger?.info({ model: model.name, retry: retry + 1, delayMs, reason: failure.kind, statusCode: failure.statusCode, err: failure.message }, "request failed; retrying");
      if (delayMs > 0) await this.sleepBeforeRetry(lane, delayMs, signal);
    }
  }

  cancelBatch(batchId: string): void {
    this.cancelledBatches.add(batchId);
    if (this.cancelledBatches.size > MAX_CANCELLED_BATCHES) this.cancelledBatches.delete(this.cancelledBatches.values().next().value!);
    for (const lane of this.lanes.values()) {
      for (const queue of lane.queues) {
        for (const waiter of queue.peekAll()) {
          if (waiter.settled || waiter.batchId !== batchId) continue;
          settle(waiter);
          lane.queued -= 1;
          waiter.reject(cancelledError(batchId, false));
        }
      }
      if (this.options.cancelRunning !== "finish") lane.deadlines.abortGroup(batchId, cancelledError(batchId, true));
    }
  }

  /** `waiting` counts requests queued for a slot and requests sleeping before a retry. */
  load(modelName: string): { running: number; waiting: number; concurrency: number } {
    const { model } = this.resolve(modelName);
    const lane = this.lanes.get(model.name);
    if (lane === undefined) return { running: 0, waiting: 0, concurrency: model.concurrency };
    return { running: lane.running, waiting: lane.queued + lane.sleeping, concurrency: lane.concurrency };
  }

  /** Rejects queued and sleeping requests and aborts running attempts, all with EngineError "aborted". */
  async close(): Promise<void> {
    if (this.closing.signal.aborted) return;
    this.closing.abort();
    for (const lane of this.lanes.values()) {
      for (const queue of lane.queues) {
        for (const waiter of queue.drain()) {
          if (waiter.settled) continue;
          settle(waiter);
          waiter.reject(closedError(lane.name));
        }
      }
      lane.queued = 0;
      lane.deadlines.abortAll(closedError(lane.name));
    }
  }

  private resolve(modelName: string): { engine: Engine; model: ModelConfig } {
    const resolved = this.options.resolve(modelName);
    if (resolved === undefined) throw new AppError("unknown_model", `Model '${modelName}' is not configured.`, { param: "model" });
    return resolved;
  }

  private laneOf(model: ModelConfig): Lane {
    const ceiling = this.options.ceiling?.(model) ?? model.concurrency;
    let lane = this.lanes.get(model.name);
    if (lane === undefined) {
      lane = new Lane(model.name, ceiling, adaptiveOptions(model), (reason) => callerAbortedError(model.name, reason));
      this.lanes.set(model.name, lane);
    } else if (lane.ceiling !== ceiling) {
      this.setCeiling(lane, ceiling);
    }
    return lane;
  }

  /** Applies a new ceiling to `modelName`'s lane now (a changed share), instead of at its next request. */
  refreshCeiling(modelName: string): void {
    const resolved = this.options.resolve(modelName);
    const lane = this.lanes.get(modelName);
    if (resolved === undefined || lane === undefined) return;
    this.setCeiling(lane, this.options.ceiling?.(resolved.model) ?? resolved.model.concurrency);
  }

  private setCeiling(lane: Lane, ceiling: number): void {
    if (lane.setCeiling(ceiling)) this.pump(lane);
  }

  /** null when a slot was taken at once (the common case: no promise), else resolves once granted. */
  private acquire(lane: Lane, rank: number, signal: AbortSignal | undefined, batchId: string | undefined): Promise<void> | null {
    if (!lane.paused && lane.running < lane.concurrency && lane.queued === 0) {
      lane.running += 1;
      return null;
    }
    if (lane.ceiling === 0) this.options.onStarved?.(lane.name);
    return new Promise<void>((grant, reject) => {
      const waiter: Waiter = { grant, reject, signal, batchId, onAbort: null, settled: false };
      if (signal !== undefined) {
        waiter.onAbort = () => {
          if (waiter.settled) return;
          settle(waiter);
          lane.queued -= 1;
          reject(callerAbortedError(lane.name, signal.reason));
        };
        signal.addEventListener("abort", waiter.onAbort, { once: true });
      }
      lane.queues[rank]?.push(waiter);
      lane.queued += 1;
    });
  }

  private release(lane: Lane): void {
    lane.running -= 1;
    if (lane.queued > 0) this.pump(lane);
  }

  /** Hands free slots to waiters, best rank first. */
  private pump(lane: Lane): void {
    while (!lane.paused && lane.running < lane.concurrency && lane.queued > 0) {
      const waiter = nextWaiter(lane);
      if (waiter === undefined) return;
      settle(waiter);
      lane.queued -= 1;
      lane.running += 1;
      waiter.grant();
    }
  }

  private async attempt<T>(
    lane: Lane,
    model: ModelConfig,
    request: { signal: AbortSignal | undefined; batchId: string | undefined; shared: boolean },
    call: (signal: AbortSignal) => Promise<T>,
    hold?: Hold<T>,
  ): Promise<T> {
    const caller = request.signal;
    // A waiter granted a slot in the same tick its caller aborted: the listener below would never fire.
    if (caller?.aborted) throw callerAbortedError(model.name, caller.reason);
    // A held attempt (a stream) gets a deadline of its own: its reader stopping aborts only it.
    const attempt = lane.deadlines.acquire(model, caller, request.shared && hold === undefined, request.batchId);
    const startedMs = this.clock.now();
    const number = lane.limit.started();
    let held = false;
    try {
      const reply = await call(attempt.signal);
      const durationMs = this.clock.now() - startedMs;
      this.metrics.engineCallEnded(model.name, durationMs, null);
      if (lane.attemptEnded(number, durationMs, null) && lane.queued > 0) this.pump(lane);
      if (hold === undefined) return reply;
      held = true;
      return hold(reply, attempt.abort, attempt.signal, once(attempt.release));
    } catch (error) {
      const failure = attemptError(error, attempt.signal);
      this.metrics.engineCallEnded(model.name, this.clock.now() - startedMs, failure);
      lane.attemptEnded(number, 0, failure);
      throw failure;
    } finally {
      if (!held) attempt.release();
    }
  }

  /**
   * A 429 with Retry-After stops new starts on the lane until then. A later 429 asking for longer extends
   * the pause; the extension is measured between pause ends (not against the clock) so an injected sleep
   * that returns at once cannot loop.
   */
  private pauseLane(lane: Lane, ms: number): void {
    const end = this.clock.now() + ms;
    if (lane.paused) {
      lane.pauseEndMs = Math.max(lane.pauseEndMs, end);
      return;
    }
    lane.paused = true;
    lane.pauseEndMs = end;
    this.options.logger?.info({ model: lane.name, pauseMs: ms }, "upstream rate limited the model; pausing new requests");
    void this.runPause(lane, ms);
  }

  private async runPause(lane: Lane, ms: number): Promise<void> {
    let sleptUntil = lane.pauseEndMs;
    let duration = ms;
    while (!this.closing.signal.aborted) {
      try {
        await abortableSleep(this.sleep, duration, this.closing.signal, undefined);
      } catch {
        return; // closed: waiters were rejected
      }
      const extra = lane.pauseEndMs - sleptUntil;
      if (extra <= 0) break;
      sleptUntil = lane.pauseEndMs;
      duration = extra;
    }
    lane.paused = false;
    this.pump(lane);
  }

  private async sleepBeforeRetry(lane: Lane, ms: number, signal: AbortSignal | undefined): Promise<void> {
    lane.sleeping += 1;
    try {
      await abortableSleep(this.sleep, ms, this.closing.signal, signal);
    } catch {
      throw signal?.aborted ? callerAbortedError(lane.name, signal.reason) : closedError(lane.name);
    } finally {
      lane.sleeping -= 1;
    }
  }
}

function nextWaiter(lane: Lane): Waiter | undefined {
  for (const queue of lane.queues) {
    for (let waiter = queue.shift(); waiter !== undefined; waiter = queue.shift()) {
      if (!waiter.settled) return waiter;
    }
  }
  return undefined;
}

function settle(waiter: Waiter): void {
  waiter.settled = true;
  if (waiter.signal && waiter.onAbort) waiter.signal.removeEventListener("abort", waiter.onAbort);
}

/**
 * What an attempt failed with. When the attempt's signal fired, its reason (timeout or caller abort,
 * both EngineErrors made above) explains the failure better than whatever the engine saw as a result
 * (a destroyed socket, a generic AbortError).
 */
function attemptError(error: unknown, signal: AbortSignal): unknown {
  if (signal.aborted && signal.reason instanceof EngineError) return signal.reason;
  return error;
}

function callerAbortedError(model: string, reason: unknown): EngineError {
  return new EngineError({ kind: "aborted", message: `Request to model '${model}' was cancelled.`, retryable: false, cause: reason });
}

function closedError(model: string): EngineError {
  return new EngineError({ kind: "aborted", message: `Request to model '${model}' was stopped: the dispatcher is shutting down.`, retryable: false });
}

/** Sleeps via `sleep`, rejecting as soon as either signal fires even if `sleep` ignores its signal. */
function abortableSleep(sleep: Sleep, ms: number, first: AbortSignal, second: AbortSignal | undefined): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    const controller = new AbortController();
    const onAbort = (): void => {
      cleanup();
      controller.abort();
      reject(new Error("sleep aborted"));
    };
    const cleanup = (): void => {
      first.removeEventListener("abort", onAbort);
      second?.removeEventListener("abort", onAbort);
    };
    if (first.aborted || second?.aborted) {
      reject(new Error("sleep aborted"));
      return;
    }
    first.addEventListener("abort", onAbort, { once: true });
    second?.addEventListener("abort", onAbort, { once: true });
    sleep(ms, controller.signal).then(
      () => {
        cleanup();
        resolve();
      },
      (error: unknown) => {
        cleanup();
        reject(error instanceof Error ? error : new Error("sleep failed"));
      },
    );
  });
}

function sleepWithTimer(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(done, ms);
    signal.addEventListener("abort", done, { once: true });
    function done(): void {
      clearTimeout(timer);
      signal.removeEventListener("abort", done);
      resolve();
    }
  });
}

function unlimitedListeners(controller: AbortController): AbortController {
  setMaxListeners(0, controller.signal);
  return controller;
}
