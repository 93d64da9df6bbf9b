/**
 * CapacityShares: several spool processes on one PostgreSQL split each Model's configured `concurrency`, so
 * that together they never send an upstream more than that (docs/decisions/0020-adaptive-concurrency-capacity.md).
 *
 * Slots are held, not guessed. Every beat, in one transaction that excludes every other process's beat
 * (src/store/capacity-ledger.ts), a process reads every live process's demand and held slots, works out its
 * fair target (max-min: no process gets more than it would use, the rest split evenly), and takes
 * `min(target, concurrency - what the others hold)`; slots beyond its target it keeps until another
 * process is owed them, so an idle process does not have to beat before its next request. A process giving
 * slots back lowers its ceiling at once, but its row keeps counting what may still be running until that
 * has drained, so the slots it gives back are free before anyone else can take them. The sum of what runs everywhere thus
 * stays within `concurrency` at every moment, not just on average.
 *
 * The price is latency of rebalancing: a process that gets work while another holds every slot waits until
 * the other's next beat releases some. Beats come every `beatMs`, and every `beatMs / 5` while a process
 * is below its target or draining, and at once when a lane with no slots gets a request (`nudge`).
 * Before its first beat a process holds nothing. If the Store cannot answer for half the time after which
 * the others would forget this process's row, it falls back to `concurrency / processes seen at the last
 * beat` (safe as long as no process joins meanwhile, which needs the Store anyway).
 */
import type { Logger } from "pino";
import { processShareOf } from "../config/backends.ts";
import type { ModelConfig } from "../config/config.ts";
import type { Clock } from "../core/clock.ts";
import type { CapacityClaim, CapacityLedger, CapacityRow } from "../store/capacity-ledger.ts";

export interface CapacitySharesOptions {
  ledger: CapacityLedger;
  owner: string;
  models: readonly ModelConfig[];
  /** This process's requests for `model` now: running, and waiting for a slot. */
  load: (model: string) => { running: number; waiting: number };
  /** Told when a Model's ceiling changed, so the Dispatcher applies it at once. */
  onChange: (model: string) => void;
  clock: Clock;
  logger?: Logger;
  beatMs?: number;
}

export const DEFAULT_BEAT_MS = 1_000;

export class CapacityShares {
  /** The slots this process may use per Model (its Dispatcher lanes' ceilings). */
  private readonly ceilings = new Map<string, number>();
  private readonly beatMs: number;
  private readonly staleMs: number;
  private timer: NodeJS.Timeout | null = null;
  private running = false;
  private beating: Promise<void> | null = null;
  private failing = false;
  private lastBeatMs: number | null = null;
  private processesSeen = 1;
  /** Whether the last beat left a Model below its target or draining (then the next beat comes sooner). */
  private unsettled = false;
  /** A nudge came while a beat was under way (nudge), and the loads that beat read. */
  private nudgedWhileBeating = false;
  private loadsRead = new Map<string, { running: number; waiting: number }>();

  constructor(private readonly options: CapacitySharesOptions) {
    this.beatMs = options.beatMs ?? DEFAULT_BEAT_MS;
    this.staleMs = this.beatMs * 5;
  }

  /** This process's ceiling for `model`: the slots it holds (none before its first beat). */
  ceiling(model: ModelConfig): number {
    return this.ceilings.get(model.name) ?? 0;
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    void this.beatAndSchedule();
  }

  /**
   * A lane with no slots got a request: beat now rather than at the next tick. A beat already under way may
   * have read that Model's lane idle: then another follows it, once (see `beat`).
   */
  nudge(): void {
    if (!this.running) return;
    if (this.beating !== null) this.nudgedWhileBeating = true;
    else void this.beat();
  }

  /** Stops beating and leaves the ledger, so the other processes may take this one's slots at their next beat. */
  async stop(): Promise<void> {
    this.running = false;
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
    await this.beating;
    await this.options.ledger.leaveCapacity(this.options.owner).catch(() => undefined);
  }

  /** One heartbeat (exposed for tests, which call it instead of waiting for the timer). */
  beat(): Promise<void> {
    this.beating ??= this.beatOnce().finally(() => {
      this.beating = null;
      if (!this.nudgedWhileBeating) return;
      this.nudgedWhileBeating = false;
      // Only for a lane the beat read idle that has requests now: it asked for no slots, and would wait for
      // the next tick (up to beatMs) with none. A lane it saw busy asked already; beating again for every
      // request that arrives while another process holds the slots would only flood the ledger with beats.
      if (this.running && this.options.models.some((model) => demandOf(this.loadsRead.get(model.name)) === 0 && demandOf(this.options.load(model.name)) > 0)) void this.beat();
    });
    return this.beating;
  }

  private async beatAndSchedule(): Promise<void> {
    await this.beat();
    if (!this.running) return;
    this.timer = setTimeout(() => void this.beatAndSchedule(), this.unsettled ? Math.ceil(this.beatMs / 5) : this.beatMs);
    this.timer.unref();
  }

  private async beatOnce(): Promise<void> {
    const { models, ledger, owner, clock } = this.options;
    const loads = new Map(models.map((model) => [model.name, this.options.load(model.name)]));
    this.loadsRead = loads;
    // Set by `decide`; a transaction redone calls it again, and the last call is the one committed.
    let claims: readonly ShareClaim[] = [];
    let processes = 1;
    try {
      await ledger.beatCapacity({
        owner,
        nowMs: clock.now(),
        staleMs: this.staleMs,
        decide: (rows) => {
          processes = new Set([owner, ...rows.map((row) => row.owner)]).size;
          claims = models.map((model) => {
            const load = loads.get(model.name) ?? { running: 0, waiting: 0 };
            return claimFor(model, owner, load, this.ceilings.get(model.name) ?? 0, rows);
          });
          return claims;
        },
      });
    } catch (error) {
      this.beatFailed(error);
      return;
    }
    this.failing = false;
    this.lastBeatMs = clock.now();
    this.processesSeen = processes;
    this.unsettled = false;
    for (const claim of claims) {
      const model = models.find((candidate) => candidate.name === claim.model);
      if (model === undefined) continue;
      if (claim.held > claim.grant || claim.grant < claim.target) this.unsettled = true;
      this.setCeiling(model.name, claim.grant);
    }
  }

  private beatFailed(error: unknown): void {
    if (!this.failing) this.options.logger?.warn({ err: error }, "could not share model concurrency through the store; keeping the current shares");
    this.failing = true;
    // Once the others may have forgotten this process's row, its slots are no longer its own.
    const silentMs = this.lastBeatMs === null ? 0 : this.options.clock.now() - this.lastBeatMs;
    if (this.lastBeatMs === null || silentMs < this.staleMs / 2) return;
    for (const model of this.options.models) this.setCeiling(model.name, Math.max(1, Math.floor(model.concurrency / this.processesSeen)));
  }

  private setCeiling(model: string, ceiling: number): void {
    if (this.ceilings.get(model) === ceiling) return;
    this.ceilings.set(model, ceiling);
    this.options.logger?.debug({ model, ceiling }, "model concurrency share changed");
    this.options.onChange(model);
  }
}

function demandOf(load: { running: number; waiting: number } | undefined): number {
  return load === undefined ? 0 : load.running + load.waiting;
}

/** A ledger row plus what this process makes of it. */
export interface ShareClaim extends CapacityClaim {
  /** The slots it may start requests in: its new ceiling. */
  grant: number;
  /** Its fair share; above `grant` while others still hold slots it is owed. */
  target: number;
}

/**
 * This process's row for `model`, given every live row. `held` also covers what may still be running under
 * the previous ceiling, so slots being given back are never handed to another process before they drain.
 */
export function claimFor(model: ModelConfig, owner: string, load: { running: number; waiting: number }, ceiling: number, rows: readonly CapacityRow[]): ShareClaim {
  // A process capped below the budget (`processConcurrency`) asks for no more: the rest is the others'.
  const most = processShareOf(model);
  const demand = Math.min(most, load.running + load.waiting);
  const others = rows.filter((row) => row.model === model.name && row.owner !== owner);
  const targets = fairTargets(model.concurrency, [...others, { owner, demand }]);
  const target = targets.get(owner) ?? 0;
  const free = Math.max(0, model.concurrency - others.reduce((sum, row) => sum + row.held, 0));
  // Slots nobody else is owed are kept even when idle: a lone process then never waits for a beat.
  const othersOwed = others.some((row) => row.held < (targets.get(row.owner) ?? 0));
  const grant = Math.min(othersOwed ? target : Math.max(target, ceiling), free, most);
  return { model: model.name, demand, held: Math.max(grant, ceiling, load.running), grant, target };
}

/**
 * Max-min fair split of `concurrency` slots: processes wanting little get what they want, the rest split
 * what is left evenly (owner order breaks ties, so every process computes the same split).
 */
export function fairTargets(concurrency: number, demands: readonly { owner: string; demand: number }[]): Map<string, number> {
  const sorted = [...demands].sort((a, b) => a.demand - b.demand || (a.owner < b.owner ? -1 : a.owner > b.owner ? 1 : 0));
  const targets = new Map<string, number>();
  let remaining = concurrency;
  sorted.forEach((entry, index) => {
    const give = Math.min(entry.demand, Math.floor(remaining / (sorted.length - index)));
    targets.set(entry.owner, give);
    remaining -= give;
  });
  return targets;
}
