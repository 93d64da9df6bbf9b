/**
 * ModelDispatcher: the Dispatcher contract (src/core/dispatcher.ts) over the configured Engines.
 *
 * One lane per Model. A lane runs at most its limit of attempts at once: `model.concurrency` (or this
 * process's share of it, `ceiling`) as a ceiling, and below it a limit learned from the upstream's answers
 * (AIMD, src/dispatch/adaptive-limit.ts; `adaptive: false` fixes it at the ceiling). Requests beyond that wait
 * in four FIFO queues taken in this order: sync retries, sync, batch retries, batch. Sync requests (a person
 * waiting) overtake queued Batch Items, and while they come Batch Items keep to a share of the slots (lane.ts,
 * decision 0025); retries, and a new Batch's first claim (decision 0062), go ahead of fresh ones of their priority.
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
 * Backends (issue 12, part 5; decision 0022): a Model with `backends` has one slot pool per backend
 * (lane.ts), cheapest first. A granted request takes the cheapest backend it may use: Batch requests
 * within each backend's allowance (dearer backends only as much as the queued deadlines need,
 * backend-allowance.ts, from `setDeadlineDemand`), sync requests anywhere. A backend's failure (5xx,
 * network, timeout) goes to its circuit breaker and sends the request at once to another backend (a
 * failover: not counted as a retry, at most once per other backend); a 4xx is the request's and is not.
 * A reply says which backend served it (`EngineReply.servedBy`), so its Item is charged at that price.
 *
 * Each attempt gets an AbortSignal that fires on the Model's `timeoutMs` (an EngineError "timeout",
 * retryable) or on the caller's signal (an EngineError "aborted", never retried). Batch attempts that start
 * close together share one (src/dispatch/shared-deadlines.ts): one controller and one timer per window
 * instead of per attempt. Timers are plain setTimeouts cleared when no attempt needs them:
 * `AbortSignal.timeout()` cannot be cleared, and at thousands of requests a second with a 10-minute timeout
 * it would keep millions of timers alive.
 */
import type { Logger } from "pino";
import type { ModelConfig } from "../config/config.ts";
import { systemClock, type Clock } from "../core/clock.ts";
import type { BackendLoad, DispatchedItems, DispatchRequest, Dispatcher } from "../core/dispatcher.ts";
import { AppError } from "../core/errors.ts";
import { NO_METRICS, type Metrics } from "../core/metrics.ts";
import { RETRY_DEFAULTS, retryDelayMs } from "../core/retry-policy.ts";
import { backendsOf } from "../config/backends.ts";
import { EngineError, type Engine, type EngineReply, type EngineStream } from "../core/engine.ts";
import { AbortWatchers } from "./abort-watchers.ts";
import { heldStream } from "./held-stream.ts";
import { attemptError, callerAbortedError, cancelledError, closedError, marked, once, servedBy, type Hold, type RunOptions } from "./run-options.ts";
import { definedOnly } from "../config/defined-only.ts";
import { BATCH, BATCH_RETRY, backendLanes, Lane, settle, SYNC, SYNC_FIRST_DEFAULTS, SYNC_RETRY, type BackendLane, type LoopPressureReading, type Waiter } from "./lane.ts";
import { CancelledBatches } from "./cancelled-batches.ts";
import { isBackendFault } from "./circuit-breaker.ts";
import { abortableSleep, afterSleep, sleepWithTimer, unlimitedListeners, type Sleep } from "./sleeps.ts";
import { dispatchPacked, runEnginePack, type PackOutcome, type PlannedPack } from "./embedding-packs.ts";

export type { Sleep } from "./sleeps.ts";

/** What `run` calls on the backend a slot was granted on. */
type Call<T> = (signal: AbortSignal, backend: BackendLane) => Promise<T>;

export interface ModelDispatcherOptions {
  resolve: (modelName: string) => { engine: Engine; model: ModelConfig } | undefined;
  /** The Engine of one of a Model's `backends`; needed only for Models that have them. */
  engineFor?: (backend: ModelConfig) => Engine;
  clock?: Clock;
  sleep?: Sleep;
  logger?: Logger;
  /** Jitter source for retry delays. */
  random?: () => number;
  retry?: { baseMs?: number; capMs?: number; maxRetryAfterMs?: number };
  /** Told of every Engine call's duration and outcome, and of every retry (in-memory counters only). */
  metrics?: Metrics;
  /** This process's share of a Model's (or a backend's) `concurrency` (worker/capacity-shares.ts). Default: all. */
  ceiling?: (model: ModelConfig) => number;
  /** Told when a request must wait because this process holds no slots of its Model (a ceiling of 0). */
  onStarved?: (modelName: string) => void;
  /** The event loop's load; Batch requests yield more of their slots to sync ones while it lags. Default: never. */
  loopPressure?: LoopPressureReading;
  /** What cancelBatch does to running requests (config `worker.cancelRunning`). Default "abort". */
  cancelRunning?: "abort" | "finish";
}

export class ModelDispatcher implements Dispatcher {
  private readonly lanes = new Map<string, Lane>();
  private readonly clock: Clock;
  private readonly sleep: Sleep;
  private readonly random: () => number;
  private readonly retry: { baseMs: number; capMs: number; maxRetryAfterMs: number };
  private readonly metrics: Metrics;
  // Every request sleeping before a retry listens to this one signal (thousands at once): Node's leak warning would be a false alarm.
  private readonly closing = unlimitedListeners(new AbortController());
  /** Batches cancelled here (cancelBatch); also read by validation, to stop one under way. */
  readonly cancelled = new CancelledBatches();
  private readonly abortWatchers = new AbortWatchers();

  constructor(private readonly options: ModelDispatcherOptions) {
    this.clock = options.clock ?? systemClock;
    this.sleep = options.sleep ?? sleepWithTimer;
    this.random = options.random ?? Math.random;
    this.retry = { ...RETRY_DEFAULTS, ...options.retry };
    this.metrics = options.metrics ?? NO_METRICS;
  }

  async dispatch(request: DispatchRequest): Promise<EngineReply> {
    if (this.closing.signal.aborted) throw closedError(request.model);
    const { model } = this.resolve(request.model);
    return this.run(model, { sync: request.priority === "sync", signal: request.signal, batchId: request.batchId, first: request.first }, (signal, backend) =>
      servedBy(backend.engine.execute({ kind: request.kind, dialect: request.dialect, body: request.body, model: backend.model, signal, owner: request.owner ?? null }), backend),
    );
  }

  async dispatchStream(request: DispatchRequest): Promise<EngineStream> {
    if (this.closing.signal.aborted) throw closedError(request.model);
    const { engine, model } = this.resolve(request.model);
    if (engine.stream === undefined) {
      throw new EngineError({ kind: "unsupported", message: `Model '${model.name}' (engine ${engine.name}) cannot stream replies.`, statusCode: 400, retryable: false });
    }
    return this.run(
      model,
      { sync: request.priority === "sync", signal: request.signal, batchId: request.batchId },
      (signal, backend) => {
        if (backend.engine.stream === undefined) throw new EngineError({ kind: "unsupported", message: `Backend '${backend.name}' of model '${model.name}' cannot stream replies.`, statusCode: 400, retryable: false });
        return backend.engine.stream({ kind: request.kind, dialect: request.dialect, body: request.body, model: backend.model, signal, owner: request.owner ?? null });
      },
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
    const { model, dialect, signal } = pack;
    try {
      // Packs never mix Batches (embedding-packs.ts keys them by Batch too).
      const results = await this.run(model, { sync: false, signal, batchId: pack.requests[0]?.batchId, first: pack.requests[0]?.first }, async (attemptSignal, backend) => {
        const replies = await runEnginePack(backend.engine, { dialect, bodies: pack.requests.map((request) => request.body), model: backend.model, signal: attemptSignal });
        return backend.breaker === null ? replies : replies.map((reply) => (reply instanceof EngineError ? reply : marked(reply, backend)));
      });
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
  private async run<T>(model: ModelConfig, request: RunOptions, call: Call<T>, hold?: Hold<T>): Promise<T> {
    const { sync, signal, batchId, first } = request;
    const lane = this.laneOf(model);
    let avoid: BackendLane | null = null;
    let failovers = 0;
    for (let retry = 0, tries = 0; ; tries += 1) {
      if (signal?.aborted) throw callerAbortedError(model.name, signal.reason);
      if (batchId !== undefined && this.cancelled.has(batchId)) throw cancelledError(batchId, false, tries > 0);
      const granted = this.acquire(lane, tries === 0 && !first ? (sync ? SYNC : BATCH) : sync ? SYNC_RETRY : BATCH_RETRY, signal, batchId, avoid);
      const backend = granted instanceof Promise ? await granted : granted;
      // Granted in the same tick the Batch was cancelled: the waiter was no longer in a queue to reject.
      if (batchId !== undefined && this.cancelled.has(batchId)) {
        this.release(lane, backend, sync);
        throw cancelledError(batchId, false, tries > 0);
      }
      let failure: unknown;
      let held = false;
      const holdSlot: Hold<T> | undefined =
        hold &&
        ((value, abort, attemptSignal, end) => {
          held = true;
          return hold(value, abort, attemptSignal, () => {
            end();
            this.release(lane, backend, sync);
          });
        });
      try {
        return await this.attempt(lane, backend, { signal, batchId, shared: !sync }, call, holdSlot);
      } catch (error) {
        failure = error;
      } finally {
        if (!held) this.release(lane, backend, sync);
      }
      // Not an EngineError: a bug in spool or an engine, not a failed request; retrying will not help.
      if (!(failure instanceof EngineError)) throw failure;
      if (signal?.aborted) throw callerAbortedError(model.name, signal.reason);
      // The pause protects the other requests of the backend, so it applies even when this one stops here.
      if (failure.statusCode === 429 && failure.retryAfterMs !== null && failure.retryAfterMs > 0 && !this.closing.signal.aborted) {
        this.pauseBackend(lane, backend, Math.min(failure.retryAfterMs, this.retry.maxRetryAfterMs));
      }
      if (this.closing.signal.aborted) throw failure;
      // The backend's fault: another backend may serve it now, without waiting and without spending a retry.
      if (isBackendFault(failure) && failovers < lane.backends.length - 1 && lane.backends.some((other) => other !== backend && other.breaker?.state !== "open")) {
        failovers += 1;
        avoid = backend;
        this.metrics.retryScheduled(model.name, failure);
        this.options.logger?.info({ model: model.name, backend: backend.name, reason: failure.kind, statusCode: failure.statusCode, err: failure.message }, "backend failed; trying another backend");
        continue;
      }
      avoid = null;
      if (!failure.retryable || retry >= model.maxRetries) throw failure;
      retry += 1;
      const delayMs = retryDelayMs({ attempt: retry, retryAfterMs: failure.retryAfterMs, random: this.random, ...this.retry });
      if (delayMs === null) throw failure;
      this.metrics.retryScheduled(model.name, failure);
      // One line per failed try that will be retried; the try that ends an Item is logged by the Worker.
      this.options.logger?.info({ model: model.name, retry, delayMs, reason: failure.kind, statusCode: failure.statusCode, err: failure.message }, "request failed; retrying");
      if (delayMs > 0) await this.sleepBeforeRetry(lane, delayMs, signal);
    }
  }

  cancelBatch(batchId: string): void {
    this.cancelled.add(batchId);
    for (const lane of this.lanes.values()) {
      for (const queue of lane.queues) {
        for (const waiter of queue.peekAll()) {
          if (waiter.settled || waiter.batchId !== batchId) continue;
          settle(waiter);
          lane.queued -= 1;
          waiter.reject(cancelledError(batchId, false));
        }
      }
      if (this.options.cancelRunning === "finish") continue;
      for (const backend of lane.backends) backend.deadlines.abortGroup(batchId, cancelledError(batchId, true));
    }
  }

  /** `waiting` counts requests queued for a slot and requests sleeping before a retry. */
  load(modelName: string): { running: number; waiting: number; concurrency: number } {
    const { model } = this.resolve(modelName);
    const lane = this.lanes.get(model.name);
    if (lane === undefined) return { running: 0, waiting: 0, concurrency: backendsOf(model).reduce((sum, backend) => sum + backend.concurrency, 0) };
    return { running: lane.running, waiting: lane.queued + lane.sleeping, concurrency: lane.concurrency };
  }

  batchSlots(modelName: string): number | null {
    return this.lanes.get(modelName)?.batchSlots(this.clock.now()) ?? null;
  }

  /** Each backend of `modelName`, cheapest first (one for a Model without `backends`); empty before its first request. */
  backends(modelName: string): BackendLoad[] {
    return this.lanes.get(modelName)?.backends.map((backend) => backend.load()) ?? [];
  }

  /**
   * Batch Items of `modelName` per second that its queued deadlines need (the Worker lane measures it from
   * the queue): dearer backends are used only as much as this asks. 0 (the default): only the cheapest.
   */
  setDeadlineDemand(modelName: string, itemsPerSecond: number): void {
    const lane = this.lanes.get(modelName);
    if (lane === undefined || lane.backends.length < 2 || lane.demand === itemsPerSecond) return;
    lane.demand = itemsPerSecond;
    lane.planAllowances(this.clock.now());
    this.pump(lane);
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
      for (const backend of lane.backends) backend.deadlines.abortAll(closedError(lane.name));
    }
  }

  private resolve(modelName: string): { engine: Engine; model: ModelConfig } {
    const resolved = this.options.resolve(modelName);
    if (resolved === undefined) throw new AppError("unknown_model", `Model '${modelName}' is not configured.`, { param: "model" });
    return resolved;
  }

  private ceilingOf(backend: ModelConfig): number {
    return this.options.ceiling?.(backend) ?? backend.concurrency;
  }

  private laneOf(model: ModelConfig): Lane {
    let lane = this.lanes.get(model.name);
    if (lane === undefined) {
      const resolved = this.resolve(model.name);
      const engineFor = (backend: ModelConfig): Engine => {
        if (backend === model) return resolved.engine;
        if (this.options.engineFor === undefined) throw new Error(`Model '${model.name}' has backends, but the Dispatcher was given no engineFor.`);
        return this.options.engineFor(backend);
      };
      const abortReason = (reason: unknown): EngineError => callerAbortedError(model.name, reason);
      const syncFirst = { ...SYNC_FIRST_DEFAULTS, ...definedOnly(model.syncFirst ?? {}) };
      lane = new Lane(model.name, backendLanes(model, { engineFor, ceiling: (backend) => this.ceilingOf(backend), now: () => this.clock.now(), abortReason }), syncFirst, this.options.loopPressure);
      lane.planAllowances(this.clock.now());
      this.lanes.set(model.name, lane);
    } else {
      for (const backend of lane.backends) {
        const ceiling = this.ceilingOf(backend.model);
        if (backend.ceiling !== ceiling) this.setCeiling(lane, backend, ceiling);
      }
    }
    return lane;
  }

  /** Applies a new ceiling to `modelName`'s backends now (a changed share), instead of at its next request. */
  refreshCeiling(modelName: string): void {
    const lane = this.lanes.get(modelName);
    if (lane === undefined) return;
    for (const backend of lane.backends) this.setCeiling(lane, backend, this.ceilingOf(backend.model));
  }

  private setCeiling(lane: Lane, backend: BackendLane, ceiling: number): void {
    if (backend.setCeiling(ceiling)) this.pump(lane);
  }

  /** The backend when a slot was taken at once (the common case: no promise), else resolves with it once granted. */
  private acquire(lane: Lane, rank: number, signal: AbortSignal | undefined, batchId: string | undefined, avoid: BackendLane | null): BackendLane | Promise<BackendLane> {
    const nowMs = this.clock.now();
    lane.arrived(rank, nowMs);
    if (lane.queued === 0) {
      lane.planIfStale(nowMs);
      const backend = lane.pick(rank, avoid, nowMs);
      if (backend !== null) return this.started(lane, backend, rank);
    }
    const promise = new Promise<BackendLane>((grant, reject) => {
      const waiter: Waiter = { grant, reject, signal, batchId, avoid, unwatch: null, settled: false };
      if (signal !== undefined) {
        waiter.unwatch = this.abortWatchers.watch(signal, () => {
          if (waiter.settled) return;
          settle(waiter);
          lane.queued -= 1;
          reject(callerAbortedError(lane.name, signal.reason));
        });
      }
      lane.queues[rank]?.push(waiter);
      lane.queued += 1;
    });
    if (lane.backends.every((backend) => backend.ceiling === 0)) this.options.onStarved?.(lane.name); // once queued: a beat reads the load
    return promise;
  }

  private started(lane: Lane, backend: BackendLane, rank: number): BackendLane {
    lane.started(backend, rank);
    return backend;
  }

  private release(lane: Lane, backend: BackendLane, sync: boolean): void {
    lane.ended(backend, sync, this.clock.now());
    if (lane.queued > 0) this.pump(lane);
  }

  /**
   * Hands free slots to waiters, best rank first (Lane.nextGrant). Waiters held by a spill rate or the yield
   * to sync requests get a wake-up for when it lets them start (a release may never come, or come late).
   */
  private pump(lane: Lane): void {
    lane.planIfStale(this.clock.now());
    const nowMs = this.clock.now();
    for (let next = lane.nextGrant(nowMs); next !== null; next = lane.nextGrant(nowMs)) next.waiter.grant(this.started(lane, next.backend, next.rank));
    if (lane.queued === 0) return;
    this.wakeLater(lane, "spill", lane.msUntilSpill(nowMs));
    this.wakeLater(lane, "yield", lane.msUntilYieldEnds(nowMs));
  }

  /** Pumps the lane again in `ms` (null: not needed); one wake-up per reason at a time. */
  private wakeLater(lane: Lane, reason: "spill" | "yield", ms: number | null): void {
    if (ms === null || lane.wakes.has(reason)) return;
    lane.wakes.add(reason);
    afterSleep(this.sleep, ms, this.closing.signal, () => {
      lane.wakes.delete(reason);
      this.pump(lane);
    });
  }

  private async attempt<T>(
    lane: Lane,
    backend: BackendLane,
    request: { signal: AbortSignal | undefined; batchId: string | undefined; shared: boolean },
    call: Call<T>,
    hold?: Hold<T>,
  ): Promise<T> {
    const model = backend.model;
    const caller = request.signal;
    // A waiter granted a slot in the same tick its caller aborted: the listener below would never fire.
    if (caller?.aborted) throw callerAbortedError(model.name, caller.reason);
    // A held attempt (a stream) gets a deadline of its own: its reader stopping aborts only it.
    const attempt = backend.deadlines.acquire(model, caller, request.shared && hold === undefined, request.batchId);
    const startedMs = this.clock.now();
    const number = backend.limit.started();
    let held = false;
    try {
      const reply = await call(attempt.signal, backend);
      const durationMs = this.clock.now() - startedMs;
      this.metrics.engineCallEnded(model.name, durationMs, null);
      if (backend.attemptEnded(number, durationMs, null) && lane.queued > 0) this.pump(lane);
      if (hold === undefined) return reply;
      held = true;
      return hold(reply, (reason) => attempt.abort(reason), attempt.signal, once(() => attempt.release()));
    } catch (error) {
      const failure = attemptError(error, attempt.signal);
      this.metrics.engineCallEnded(model.name, this.clock.now() - startedMs, failure);
      const reopensBefore = backend.breaker?.reopensAtMs ?? null;
      backend.attemptEnded(number, 0, failure);
      const reopensAtMs = backend.breaker?.reopensAtMs ?? null;
      if (reopensAtMs !== null && reopensAtMs !== reopensBefore) this.breakerOpened(lane, backend, reopensAtMs);
      throw failure;
    } finally {
      if (!held) attempt.release();
    }
  }

  /** A backend's breaker opened: plan without it now, and look at the queue again once it may take a probe. */
  private breakerOpened(lane: Lane, backend: BackendLane, reopensAtMs: number): void {
    this.options.logger?.warn({ model: lane.name, backend: backend.name, until: new Date(reopensAtMs).toISOString() }, "backend failing; its circuit breaker opened");
    lane.planAllowances(this.clock.now());
    afterSleep(this.sleep, Math.max(0, reopensAtMs - this.clock.now()), this.closing.signal, () => {
      lane.planAllowances(this.clock.now());
      this.pump(lane);
    });
  }

  /**
   * A 429 with Retry-After stops new starts on the backend until then. A later 429 asking for longer extends
   * the pause; the extension is measured between pause ends (not against the clock) so an injected sleep
   * that returns at once cannot loop.
   */
  private pauseBackend(lane: Lane, backend: BackendLane, ms: number): void {
    const end = this.clock.now() + ms;
    if (backend.paused) {
      backend.pauseEndMs = Math.max(backend.pauseEndMs, end);
      return;
    }
    backend.paused = true;
    backend.pauseEndMs = end;
    this.options.logger?.info({ model: lane.name, backend: backend.name, pauseMs: ms }, "upstream rate limited the model; pausing new requests");
    void this.runPause(lane, backend, ms);
  }

  private async runPause(lane: Lane, backend: BackendLane, ms: number): Promise<void> {
    let sleptUntil = backend.pauseEndMs;
    let duration = ms;
    while (!this.closing.signal.aborted) {
      try {
        await abortableSleep(this.sleep, duration, this.closing.signal, undefined);
      } catch {
        return; // closed: waiters were rejected
      }
      const extra = backend.pauseEndMs - sleptUntil;
      if (extra <= 0) break;
      sleptUntil = backend.pauseEndMs;
      duration = extra;
    }
    backend.paused = false;
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
