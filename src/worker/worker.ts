/**
 * The Worker: claim -> dispatch -> record -> repeat, one lane per configured Model.
 *
 * A lane claims only what it can start soon (about twice the Model's concurrency: the running requests
 * plus one round queued in the Dispatcher). Claiming more would hoard Items under this process's Leases
 * while other processes sit idle; claiming less would leave the engine waiting on the database.
 * That budget is in Engine calls: the Items of one claim go to the Dispatcher together, which packs
 * single-input embedding Items into shared calls (src/dispatch/embedding-packs.ts), so a lane whose last
 * claim made 64 Items per call claims 64 times as many Items. Each Item is still recorded on its own, with
 * its own Attempt, so fencing and crash recovery do not know about packs.
 *
 * Which Items a claim takes is the lane's schedule (lane-schedule.ts, issue 12): the claim budget is shared
 * across the Batches queued on the Model by batch hours, deadline and priority, Batch by Batch, each in its
 * own claim order — so a small Batch behind a large one runs at once instead of after it.
 *
 * Leases are renewed by one heartbeat for all running Items of the process, so a request may run longer
 * than the Lease; if the process dies the heartbeat stops and the Sweeper (any process) returns the Items.
 * A Batch cancelled through another process stops here when its work event arrives, or at the latest at
 * the next look of the CancelWatch (every `sweepMs`, cancel-watch.ts).
 */
import { setMaxListeners } from "node:events";
import type { Logger } from "pino";
import { totalConcurrency } from "../config/backends.ts";
import { resultCacheMaxAgeMs, type Config, type ModelConfig } from "../config/config.ts";
import type { Clock } from "../core/clock.ts";
import { isStorageFailure } from "../core/errors.ts";
import type { Dispatcher, DispatchRequest } from "../core/dispatcher.ts";
import type { EngineReply } from "../core/engine.ts";
import { NO_METRICS, type Metrics } from "../core/metrics.ts";
import type { ModelCatalog } from "../core/model-catalog.ts";
import type { BatchFormats } from "../core/batch-format.ts";
import type { ClaimedItem, Store } from "../store/store.ts";
import { CancelWatch } from "./cancel-watch.ts";
import { outcomeOfError, outcomeOfReply, type ItemOutcome } from "./item-outcome.ts";
import { LaneSchedule, MIN_REREAD_MS } from "./lane-schedule.ts";
import { ResultWriter } from "./result-writer.ts";
import { Signal } from "./signal.ts";

export interface WorkerDeps {
  store: Store;
  dispatcher: Dispatcher;
  catalog: ModelCatalog;
  clock: Clock;
  logger: Logger;
  settings: Config["worker"];
  /** Unique per process: the Lease owner. */
  owner: string;
  /** Dialect rules by Dialect: extract each Item's request body. */
  formats: BatchFormats;
  /**
   * Told after results are recorded (a Batch may now be complete); `prompt` when they are likely to have
   * finished a Batch (its last Item this Worker held, with none of its Items left to claim) or this Worker
   * went idle: look for finished Batches now rather than at the next gap. `batchIds`: the Batches whose
   * results they were.
   */
  onResults?: (prompt: boolean, batchIds: ReadonlySet<string>) => void;
  /** How long a finished Item's result may wait to be recorded with others (ResultWriter; default 20 ms). */
  resultDelayMs?: number;
  /** Told of claims and results (in-memory counters only). */
  metrics?: Metrics;
}

interface Lane {
  model: ModelConfig;
  /** Engine calls the Model may run at once in this process, over all its backends (totalConcurrency). */
  concurrency: number;
  /** Items claimed and not yet finished. */
  active: number;
  /** Items per Engine call in the latest claim: 1 unless the Dispatcher packed them. */
  itemsPerCall: number;
  /** Notified when the lane may claim again (claimRoom turned positive), not on every finished Item. */
  slotFreed: Signal;
  /**
   * Notified when new work may exist (notify()). One per lane: a Signal keeps a notify nobody was waiting
   * for only while it has one waiter at most, and with one Signal for all lanes a lane busy claiming when a
   * Batch of its Model started lost the notify to an idle lane and slept out its back-off (up to pollMs).
   */
  work: Signal;
  /** A Batch started since the lane's last claim: it claims for it even with no room (claimNow). */
  newcomer: boolean;
  schedule: LaneSchedule;
  /** The Model keeps succeeded results for later Batches (`resultCache`). */
  cachesResults: boolean;
}

/**
 * Items the lane may claim now (0 when it should wait): it keeps up to twice its concurrency ahead (in Items,
 * so packed calls hold more), claimed in runs of at least half its concurrency. Over all its backends: a
 * Model with several claims for all of them (the Dispatcher picks which runs).
 */
function claimRoom(lane: Lane, dispatcher: Dispatcher): number {
  const { target, minimumClaim } = claimBounds(lane, dispatcher);
  const free = Math.floor(target - lane.active);
  return free < minimumClaim ? 0 : free;
}

function claimBounds(lane: Lane, dispatcher: Dispatcher): { target: number; minimumClaim: number } {
  // While Batch requests yield to sync ones they may hold only a share of the slots: claiming ahead for all
  // of them left most of the claim queued in the Dispatcher, in front of a Batch started meanwhile (decision 0051).
  const yielded = dispatcher.batchSlots(lane.model.name);
  const calls = yielded === null ? lane.concurrency : Math.min(lane.concurrency, yielded);
  return { target: calls * 2 * lane.itemsPerCall, minimumClaim: Math.max(1, Math.floor(calls / 2)) * lane.itemsPerCall };
}

/**
 * Items the lane claims now: its room, or, right after a Batch started, one minimum claim for the Batches
 * it runs none of (`onlyNew`). A full lane waited for a run of its Items to finish before it claimed the new
 * Batch's Items, and then gave it only its share of the claim: a 2-Item Batch beside a large one on 4 slots
 * waited out two rounds of the large one's requests (decision 0062). The extra is one minimum claim per
 * start at most, so the Items held ahead stay bounded.
 */
function claimNow(lane: Lane, dispatcher: Dispatcher): { free: number; onlyNew: boolean } {
  const newcomer = lane.newcomer;
  lane.newcomer = false;
  const free = claimRoom(lane, dispatcher);
  if (free === 0 && newcomer) return { free: claimBounds(lane, dispatcher).minimumClaim, onlyNew: true };
  return { free, onlyNew: false };
}

export class Worker {
  private running = false;
  private readonly lanes: Lane[];
  /** Keys (`batchId:index`) of the Items this process is running. */
  private readonly inFlight = new Map<string, { batchId: string; index: number }>();
  /** Items running per Batch, and the Batches whose last claim found none of their Items left to claim. */
  private readonly inFlightByBatch = new Map<string, number>();
  private readonly drained = new Set<string>();
  /**
   * One signal for every running request: stop() aborts them all at once, so a per-Item AbortController
   * (a measurable cost at thousands of requests per second) buys nothing.
   */
  private readonly abandon = new AbortController();
  private readonly writer: ResultWriter;
  private laneLoops: Promise<void>[] = [];
  private heartbeat: NodeJS.Timeout | null = null;
  /** Finds Batches cancelled through other processes whose Items this one holds. */
  private readonly cancels: CancelWatch;
  private readonly logger: Logger;
  private readonly metrics: Metrics;

  constructor(private readonly deps: WorkerDeps) {
    this.logger = deps.logger.child({ component: "worker" });
    this.metrics = deps.metrics ?? NO_METRICS;
    const onDemand = (model: string, itemsPerSecond: number): void => deps.dispatcher.setDeadlineDemand(model, itemsPerSecond);
    const scheduleDeps = { store: deps.store, clock: deps.clock, owner: deps.owner, refreshMs: deps.settings.pollMs, onDemand };
    this.lanes = deps.catalog.models.map((model) => ({
      model,
      concurrency: totalConcurrency(model),
      active: 0,
      itemsPerCall: 1,
      slotFreed: new Signal(),
      work: new Signal(),
      newcomer: false,
      schedule: new LaneSchedule(model, scheduleDeps),
      cachesResults: resultCacheMaxAgeMs(model) !== null,
    }));
    setMaxListeners(0, this.abandon.signal); // every running request listens to it
    this.cancels = new CancelWatch({ store: deps.store, dispatcher: deps.dispatcher, logger: this.logger, everyMs: deps.settings.sweepMs, heldBatches: () => this.inFlightByBatch.keys() });
    this.writer = new ResultWriter(deps.store, deps.clock, this.logger, {
      maxDelayMs: deps.resultDelayMs,
      onFlushed: (_applied, prompt, batchIds) => deps.onResults?.(prompt, batchIds),
    });
  }

  start(): void {
    if (this.running) return;
    if (this.abandon.signal.aborted) throw new Error("A stopped Worker cannot start again; create a new one.");
    this.running = true;
    this.laneLoops = this.lanes.map((lane) => this.runLane(lane));
    const { leaseMs } = this.deps.settings;
    this.heartbeat = setInterval(() => void this.renewLeases(), Math.max(50, Math.floor(leaseMs / 3)));
    this.heartbeat.unref();
    this.cancels.start();
  }

  /** New work may exist (a Batch started); idle lanes claim at once instead of waiting for the poll. */
  notify(): void {
    for (const lane of this.lanes) {
      lane.schedule.invalidate();
      lane.work.notify();
    }
  }

  /** A Batch started: lanes claim its Items now, full or not (claimNow). */
  batchStarted(): void {
    for (const lane of this.lanes) {
      lane.newcomer = true;
      lane.slotFreed.notify();
    }
    this.notify();
  }

  /** Requests this process is running now. */
  get activeCount(): number {
    return this.inFlight.size;
  }

  /**
   * Graceful stop: no new claims; running requests get `graceMs` to finish and be recorded; the rest are
   * aborted and returned to pending so another Worker runs them without waiting for the Lease to expire.
   */
  async stop(graceMs: number = this.deps.settings.shutdownGraceMs): Promise<void> {
    if (!this.running) return;
    this.running = false;
    for (const lane of this.lanes) {
      lane.work.notify();
      lane.slotFreed.notify();
    }
    await this.waitIdle(graceMs);
    this.abandon.abort();
    await this.waitIdle(1_000);
    await Promise.all(this.laneLoops);
    if (this.heartbeat) clearInterval(this.heartbeat);
    this.cancels.stop();
    await this.writer.flush();
    const released = await this.deps.store.releaseItems(this.deps.owner);
    if (released > 0) this.logger.info({ released }, "returned unfinished items to the queue");
  }

  private async runLane(lane: Lane): Promise<void> {
    const { store, clock, settings, owner } = this.deps;
    let idleMs = 10;
    let failures = 0;
    while (this.running) {
      const { free, onlyNew } = claimNow(lane, this.deps.dispatcher);
      if (free === 0) {
        await lane.slotFreed.wait(settings.pollMs);
        continue;
      }
      let items: ClaimedItem[];
      try {
        const batches = onlyNew ? await lane.schedule.planNew(free, (batchId) => this.inFlightByBatch.has(batchId)) : await lane.schedule.plan(free);
        if (onlyNew && batches.length === 0) {
          // The queue may not have been read since the start (a read is at most every MIN_REREAD_MS while the
          // lane has many Batches queued): look again once it is. Else none is new here (another Model's
          // Batch, or one held for the batch hours): wait for room as before.
          if (lane.schedule.stale) {
            lane.newcomer = true;
            await lane.slotFreed.wait(MIN_REREAD_MS);
          }
          continue;
        }
        items = batches.length === 0 ? [] : await store.claimItems({ owner, model: lane.model.name, limit: free, nowMs: clock.now(), leaseMs: settings.leaseMs, batches });
        for (const batchId of lane.schedule.claimed(batches, items)) this.batchDrained(batchId);
        failures = 0;
      } catch (error) {
        // The Store logs an outage once; while it lasts, back off (up to 10 polls) instead of logging a stack per poll.
        failures += 1;
        if (isStorageFailure(error)) this.logger.debug({ err: error, model: lane.model.name }, "claiming items failed");
        else this.logger.error({ err: error, model: lane.model.name }, "claiming items failed");
        await lane.work.wait(settings.pollMs * Math.min(10, failures));
        continue;
      }
      if (items.length === 0) {
        await lane.work.wait(idleMs);
        idleMs = Math.min(idleMs * 2, settings.pollMs);
        continue;
      }
      idleMs = 10;
      this.metrics.itemsClaimed(items, clock.now());
      void this.runItems(lane, items);
    }
  }

  private async runItems(lane: Lane, items: readonly ClaimedItem[]): Promise<void> {
    // Batches this process was not running: their first Items go ahead of those claimed before (decision 0062).
    const first = new Set<string>();
    for (const item of items) {
      if (!this.inFlightByBatch.has(item.batchId)) first.add(item.batchId);
      lane.active += 1;
      this.inFlight.set(keyOf(item), { batchId: item.batchId, index: item.index });
      this.inFlightByBatch.set(item.batchId, (this.inFlightByBatch.get(item.batchId) ?? 0) + 1);
    }
    const ready: { item: ClaimedItem; request: DispatchRequest }[] = [];
    for (const item of items) {
      const dialect = item.dialect;
      try {
        const format = this.deps.formats[dialect];
        const { kind, body } = format.engineCall?.(item.request, item.kind) ?? { kind: item.kind, body: format.requestBody(item.request) };
        ready.push({ item, request: { model: item.model, kind, dialect, body, priority: "batch", signal: this.abandon.signal, batchId: item.batchId, first: first.has(item.batchId) } });
      } catch (error) {
        this.finish(lane, item, this.outcomeOfFailure(item, error));
      }
    }
    if (ready.length === 0) return;
    const { replies, calls } = this.deps.dispatcher.dispatchItems(ready.map((each) => each.request));
    const itemsPerCall = calls > 0 ? Math.max(1, ready.length / calls) : lane.itemsPerCall;
    if (itemsPerCall !== lane.itemsPerCall) {
      lane.itemsPerCall = itemsPerCall;
      // Packed calls let the lane hold more Items ahead: its loop must look again now, not at the next finish.
      if (claimRoom(lane, this.deps.dispatcher) > 0) lane.slotFreed.notify();
    }
    await Promise.all(replies.map((reply, index) => this.record(lane, ready[index]!.item, reply)));
  }

  private async record(lane: Lane, item: ClaimedItem, reply: Promise<EngineReply>): Promise<void> {
    let outcome: ItemOutcome;
    try {
      outcome = outcomeOfReply(await reply, this.deps.clock.now());
    } catch (error) {
      outcome = this.outcomeOfFailure(item, error);
    }
    this.finish(lane, item, outcome);
  }

  private outcomeOfFailure(item: ClaimedItem, error: unknown): ItemOutcome {
    const outcome = outcomeOfError(error, this.deps.clock.now());
    if (outcome.status === "failed" && outcome.result.errorCode === "internal_error") {
      this.logger.error({ err: error, batchId: item.batchId, index: item.index }, "item failed inside spool");
    }
    return outcome;
  }

  private finish(lane: Lane, item: ClaimedItem, outcome: ItemOutcome): void {
    lane.active -= 1;
    lane.schedule.finished(1);
    this.inFlight.delete(keyOf(item));
    const left = (this.inFlightByBatch.get(item.batchId) ?? 1) - 1;
    if (left > 0) this.inFlightByBatch.set(item.batchId, left);
    else this.inFlightByBatch.delete(item.batchId);
    const batchDone = left === 0 && this.drained.delete(item.batchId);
    // Only when the loop can claim: woken per finished Item, it found too few free slots and waited again
    // (a timer, a promise and closures per Item, about 2% of the Batch hot path's CPU).
    if (claimRoom(lane, this.deps.dispatcher) > 0) lane.slotFreed.notify();
    if (outcome.status === "abandoned") return; // released in stop()
    // A request its Batch's cancel stopped before it was sent is not an Item the engine finished (as the
    // Items the cancel found unstarted are not).
    if (outcome.status !== "cancelled") this.metrics.itemFinished(item, outcome.status, outcome.result);
    if (outcome.status === "failed") {
      const { errorCode, statusCode } = outcome.result;
      this.logger.info({ batchId: item.batchId, index: item.index, attempt: item.attempt, model: item.model, reason: errorCode ?? `http_${statusCode}`, statusCode }, "item failed");
    }
    const cacheResult = outcome.status === "succeeded" && lane.cachesResults;
    this.writer.add({ batchId: item.batchId, index: item.index, owner: this.deps.owner, attempt: item.attempt, status: outcome.status, result: outcome.result, cacheResult });
    // The last Item of a drained Batch, or the last Item this Worker held: waiting for the flush delay and
    // the Sweeper's gap only delays the end of the Batch (measured: 20-120 ms after a small Batch's last Item).
    if (batchDone || this.inFlight.size === 0) void this.writer.flush(true);
  }

  /**
   * A claim found none of the Batch's Items left: once its Items running here finish, the Batch may be done.
   * With none running here, its last results may be waiting in the writer: write and look now.
   */
  private batchDrained(batchId: string): void {
    if (this.inFlightByBatch.has(batchId)) this.drained.add(batchId);
    else if (this.writer.pending > 0) void this.writer.flush(true);
  }

  private async renewLeases(): Promise<void> {
    const held = [...this.inFlight.values(), ...this.writer.held()];
    if (held.length === 0) return;
    try {
      // Only what this Worker knows it holds: an Item claimed by a statement whose answer was lost is left to
      // expire and be reclaimed, instead of being kept alive by this heartbeat with nobody running it.
      await this.deps.store.renewItemLeases(this.deps.owner, this.deps.clock.now(), this.deps.settings.leaseMs, held);
    } catch (error) {
      if (!isStorageFailure(error)) this.logger.warn({ err: error }, "renewing leases failed");
    }
  }

  private async waitIdle(timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (this.inFlight.size > 0 && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
  }
}

function keyOf(item: ClaimedItem): string {
  return `${item.batchId}:${item.index}`;
}
