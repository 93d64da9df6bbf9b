/**
 * One Worker lane's schedule (issue 12): which Batches the lane's next claim takes Items from, and how many
 * of each. The policy is src/scheduling/ (shares by batch hours, deadline and priority; deficit round-robin
 * over claims); this file feeds it from the Store and the lane:
 *
 * - the Batches queued on the Model (`queuedBatches`: one index probe per Batch) and the Model's measured
 *   capacity, all processes together (`modelThroughput`), re-read every poll interval, after notify() (a
 *   Batch started) and after a claim found nothing — not per claim, so the claim's per-Item cost is what it
 *   was. After notify() at once while the lane has nothing queued, or only one or two Batches with more
 *   than a second of work left (a large Batch running alone: a small one started beside it would otherwise
 *   wait out the bound behind its claims); else at most every MIN_REREAD_MS: with 1,000 small Batches
 *   starting one after another, a re-read per start (up to 1,000 queued Batches each, and their shares
 *   planned again) cost about 1 ms of CPU per Batch (decision 0038). A Batch started while the lane is busy
 *   joins the shares within that bound;
 * - this lane's own throughput, measured as it claims and finishes Items and reported to the Store every
 *   couple of seconds, for every process's scheduler and ETA.
 *
 * The poll interval is real time, like the Worker's other polls; deadlines, batch hours and throughput
 * follow the injected Clock.
 */
import type { ModelConfig } from "../config/config.ts";
import { BatchHours } from "../core/batch-hours.ts";
import type { Clock } from "../core/clock.ts";
import { ClaimPlanner } from "../scheduling/claim-planner.ts";
import { deadlineDemand, MAX_QUEUED_BATCHES, planShares, type ScheduleContext, type Share } from "../scheduling/fair-share.ts";
import { THROUGHPUT_REPORT_MS, THROUGHPUT_ROUND_MS, ThroughputMeter } from "../scheduling/throughput-meter.ts";
import type { QueuedBatch } from "../store/scheduling-views.ts";
import type { BatchClaim, ClaimedItem, Store } from "../store/store.ts";

/** Least time between two reads of the queue that notify() asks for while the lane still has Batches queued. */
export const MIN_REREAD_MS = 100;
/** A queue of at most this many Batches, with at least LONG_QUEUE_MS of work left, is re-read at once on notify(). */
const FEW_QUEUED = 2;
const LONG_QUEUE_MS = 1_000;

export interface LaneScheduleDeps {
  store: Store;
  clock: Clock;
  owner: string;
  /** How often (real time) the queue is re-read while the lane is busy. */
  refreshMs: number;
  /**
   * Told the Items per second the queue's deadlines need, at each read (a Model with several backends
   * spills onto dearer ones by it; Dispatcher.setDeadlineDemand).
   */
  onDemand?: (model: string, itemsPerSecond: number) => void;
}

export class LaneSchedule {
  private queue: QueuedBatch[] = [];
  /**
   * The queue's shares and remaining Items, worked out once per read of the queue (or when a claim found a
   * Batch empty), not per claim: with hundreds of small Batches queued, planning the shares for every claim
   * cost more main-thread CPU than the claims' Items (issue 11). At most one refresh interval old.
   */
  private planned: { shares: Share[]; caps: Map<number, number>; seqById: Map<string, number> } | null = null;
  private capacity: number | null = null;
  private isStale = true;
  /** Counts invalidate() calls: one that lands while a read is in flight leaves the queue stale after it. */
  private invalidations = 0;
  private readAt = 0;
  /**
   * Batches a read found gone from the queue (their last Items claimed by a claim that took exactly what
   * they had, or cancelled): drained like those a claim finds empty, told by the next claimed().
   */
  private vanished: string[] = [];
  private reportedAtMs = -Infinity;
  private readonly planner = new ClaimPlanner();
  private readonly meter = new ThroughputMeter();
  private readonly hours: BatchHours | null;

  constructor(
    private readonly model: ModelConfig,
    private readonly deps: LaneScheduleDeps,
  ) {
    this.hours = model.schedule ? BatchHours.parse(model.schedule.batchHours) : null;
  }

  /** New work may be queued (a Batch started): re-read the queue before the next claim. */
  invalidate(): void {
    this.isStale = true;
    this.invalidations += 1;
  }

  /**
   * What the next claim of up to `budget` Items takes from which Batch, in dispatch order. Empty when no
   * Batch has Items the lane may run now (none queued, or all waiting for the batch hours).
   */
  async plan(budget: number): Promise<BatchClaim[]> {
    await this.readIfDue();
    const planned = this.plannedShares();
    const plan = this.planner.plan(budget, planned.shares, planned.caps);
    // Nothing to claim: look again next time (another process may have started a Batch meanwhile).
    if (plan.length === 0) this.isStale = true;
    return plan;
  }

  private async readIfDue(): Promise<void> {
    const sinceRead = performance.now() - this.readAt;
    if (sinceRead >= this.deps.refreshMs || (this.isStale && (sinceRead >= MIN_REREAD_MS || this.rereadsAtOnce()))) await this.read();
  }

  /** Whether the queue is due a re-read (a Batch started, or the last plan found nothing) it has not had yet. */
  get stale(): boolean {
    return this.isStale;
  }

  /**
   * A claim of `budget` Items for the Batches this process runs none of (`running` says which it does) and
   * that may run now (a share above 0: not held for the batch hours), in the shares' order, each up to what
   * it has left: a full lane's claim right after a Batch started (Worker claimNow, decision 0062). Outside
   * the shares' rotation: the plan of so small a claim may well give all of it to the running Batches.
   */
  async planNew(budget: number, running: (batchId: string) => boolean): Promise<BatchClaim[]> {
    await this.readIfDue();
    const { shares, caps, seqById } = this.plannedShares();
    const runningSeqs = new Set<number>();
    for (const [batchId, seq] of seqById) if (running(batchId)) runningSeqs.add(seq);
    const plan: BatchClaim[] = [];
    let left = budget;
    for (const share of shares) {
      if (left <= 0) break;
      if (share.fraction <= 0 || runningSeqs.has(share.seq)) continue;
      const limit = Math.min(left, caps.get(share.seq) ?? left);
      if (limit <= 0) continue;
      plan.push({ batchSeq: share.seq, limit });
      left -= limit;
    }
    return plan;
  }

  /**
   * A claim made from `plan` returned `items`: a Batch that gave fewer than asked has none left for now.
   * Returns the ids of those Batches, and of those a read since the last call found gone from the queue
   * (drained: they may finish once their running Items do).
   */
  claimed(plan: readonly BatchClaim[], items: readonly ClaimedItem[]): string[] {
    this.meter.started(items.length, this.deps.clock.now());
    const vanished = this.vanished;
    if (vanished.length > 0) this.vanished = [];
    const bySeq = this.plannedShares().seqById;
    const counts = new Map<number, number>();
    for (const item of items) {
      const seq = bySeq.get(item.batchId);
      if (seq !== undefined) counts.set(seq, (counts.get(seq) ?? 0) + 1);
    }
    const empty = new Set(plan.filter((entry) => (counts.get(entry.batchSeq) ?? 0) < entry.limit).map((entry) => entry.batchSeq));
    if (empty.size === 0) return vanished;
    const drained = this.queue.filter((batch) => empty.has(batch.seq)).map((batch) => batch.id);
    this.queue = this.queue.filter((batch) => !empty.has(batch.seq));
    this.planned = null;
    return vanished.length === 0 ? drained : vanished.concat(drained);
  }

  /** `count` claimed Items of this lane finished (or were given up). */
  finished(count: number): void {
    this.meter.finished(count, this.deps.clock.now());
  }

  /** Whether a stale queue is read again before the bound (see the top of this file). */
  private rereadsAtOnce(): boolean {
    if (this.queue.length === 0) return true;
    if (this.queue.length > FEW_QUEUED) return false;
    const left = this.queue.reduce((sum, batch) => sum + batch.remaining, 0);
    // Capacity not measured yet: a guess of 1,000 Items/s.
    const itemsPerSecond = this.capacity !== null && this.capacity > 0 ? this.capacity : 1_000;
    return (left / itemsPerSecond) * 1000 >= LONG_QUEUE_MS;
  }

  private plannedShares(): NonNullable<LaneSchedule["planned"]> {
    this.planned ??= {
      shares: planShares(this.queue, this.context()),
      caps: new Map(this.queue.map((batch) => [batch.seq, batch.remaining])),
      seqById: new Map(this.queue.map((batch) => [batch.id, batch.seq])),
    };
    return this.planned;
  }

  private context(): ScheduleContext {
    return { nowMs: this.deps.clock.now(), capacity: this.capacity, hours: this.hours };
  }

  private async read(): Promise<void> {
    const { store, clock } = this.deps;
    const nowMs = clock.now();
    const invalidations = this.invalidations;
    await this.report(nowMs);
    const before = this.queue;
    this.queue = await store.queuedBatches(this.model.name, MAX_QUEUED_BATCHES);
    // A Batch whose last Items a claim took exactly (none found short) leaves the queue unseen by claimed():
    // without this its end waited for the result writer's delay and the Sweeper's gap (seen as a CI flake).
    if (before.length > 0) this.noteVanished(before);
    // An idle lane polls: only a queue with Batches in it needs the capacity.
    const measured = this.queue.length > 0 ? await store.modelThroughput(this.model.name, THROUGHPUT_ROUND_MS) : null;
    this.capacity = measured?.itemsPerSecond ?? this.meter.rate(nowMs);
    this.deps.onDemand?.(this.model.name, deadlineDemand(this.queue, nowMs));
    // A Batch started while the read was in flight may have committed after its query: it was not seen, so
    // the next claim reads again instead of leaving it to the refresh interval (seen: a 10-Item Batch
    // beside a large one took 549 ms instead of ~50).
    this.isStale = this.invalidations !== invalidations;
    this.planned = null;
    this.readAt = performance.now();
  }

  private noteVanished(before: readonly QueuedBatch[]): void {
    const present = new Set(this.queue.map((batch) => batch.seq));
    for (const batch of before) if (!present.has(batch.seq)) this.vanished.push(batch.id);
  }

  /** This lane's throughput for every process's scheduler and ETA; only when there is one to tell. */
  private async report(nowMs: number): Promise<void> {
    if (nowMs - this.reportedAtMs < THROUGHPUT_REPORT_MS) return;
    const rate = this.meter.rate(nowMs);
    if (rate === null) return;
    await this.deps.store.recordThroughput({ owner: this.deps.owner, model: this.model.name, itemsPerSecond: rate, nowMs });
    this.reportedAtMs = nowMs;
  }
}
