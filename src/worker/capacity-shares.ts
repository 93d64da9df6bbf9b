/**
 * CapacityShares: several spool processes on one PostgreSQL split each Model's configured `concurrency`, so
 * that together they never send an upstream more than that (docs/decisions/0020-adaptive-concurrency-capacity.md).
 *
 * Every `beatMs` each process writes to the capacity ledger (src/store/capacity-ledger.ts) whether it has
 * requests for each Model (running or queued in its Dispatcher) and reads how many live processes there
 * are and how many want each Model. Its share, the ceiling of its Dispatcher lane, is
 * `floor(concurrency / n)` (at least 1): `n` is the processes wanting the Model when this one does, and
 * every live process when it does not, so an idle process that gets work starts within a share that
 * assumes everyone is busy, instead of at the whole budget. Processes with work split what idle ones leave. Below the share, each process's adaptive limit (AIMD) still learns what
 * the upstream accepts; since every process sees the upstream's 429s, their limits converge together.
 *
 * Between beats the shares are up to `beatMs` old: a process that gets work while the others run on the
 * whole budget can make the sum exceed it by its share until their next beat (at most `beatMs`). A dead process's rows stop counting after `staleMs`.
 * A Store that cannot answer leaves the shares as they were (logged once per outage).
 */
import type { Logger } from "pino";
import type { ModelConfig } from "../config/config.ts";
import type { Clock } from "../core/clock.ts";
import type { CapacityCount, CapacityLedger } from "../store/capacity-ledger.ts";

export interface CapacitySharesOptions {
  ledger: CapacityLedger;
  owner: string;
  models: readonly ModelConfig[];
  /** Whether this process has requests for `model` now (running or waiting in its Dispatcher). */
  wants: (model: string) => boolean;
  /** Told when a Model's share changed, so the Dispatcher applies it at once. */
  onChange: (model: string) => void;
  clock: Clock;
  logger?: Logger;
  beatMs?: number;
}

export const DEFAULT_BEAT_MS = 1_000;

export class CapacityShares {
  private readonly shares = new Map<string, number>();
  private readonly beatMs: number;
  private timer: NodeJS.Timeout | null = null;
  private beating: Promise<void> | null = null;
  private failing = false;

  constructor(private readonly options: CapacitySharesOptions) {
    this.beatMs = options.beatMs ?? DEFAULT_BEAT_MS;
  }

  /** This process's ceiling for `model`: its share, or the whole `concurrency` before the first beat. */
  ceiling(model: ModelConfig): number {
    return this.shares.get(model.name) ?? model.concurrency;
  }

  start(): void {
    if (this.timer !== null) return;
    void this.beat();
    this.timer = setInterval(() => void this.beat(), this.beatMs);
    this.timer.unref();
  }

  /** Stops beating and leaves the ledger, so the other processes take this one's share at their next beat. */
  async stop(): Promise<void> {
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
    await this.beating;
    await this.options.ledger.leaveCapacity(this.options.owner).catch(() => undefined);
  }

  /** One heartbeat (exposed for tests, which call it instead of waiting for the timer). */
  beat(): Promise<void> {
    this.beating ??= this.beatOnce().finally(() => (this.beating = null));
    return this.beating;
  }

  private async beatOnce(): Promise<void> {
    const { models, ledger, owner, clock } = this.options;
    const demands = models.map((model) => ({ model: model.name, wants: this.options.wants(model.name) }));
    let counts: Record<string, CapacityCount>;
    try {
      counts = await ledger.beatCapacity({ owner, demands, nowMs: clock.now(), staleMs: this.beatMs * 5 });
    } catch (error) {
      if (!this.failing) this.options.logger?.warn({ err: error }, "could not share model concurrency through the store; keeping the current shares");
      this.failing = true;
      return;
    }
    this.failing = false;
    for (const [index, model] of models.entries()) {
      const count = counts[model.name] ?? { live: 1, wanting: 0 };
      // Wanting it: split among the processes that do. Idle: assume every live process will want it.
      const processes = demands[index]?.wants ? count.wanting : count.live;
      const share = Math.max(1, Math.floor(model.concurrency / Math.max(1, processes)));
      if (this.shares.get(model.name) === share) continue;
      this.shares.set(model.name, share);
      this.options.logger?.debug({ model: model.name, share, processes }, "model concurrency share changed");
      this.options.onChange(model.name);
    }
  }
}
