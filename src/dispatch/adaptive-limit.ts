/**
 * AdaptiveLimit: how many attempts a Model's lane may run at once, learned from the upstream (AIMD, as TCP
 * congestion control; docs/decisions/0020-adaptive-concurrency-capacity.md).
 *
 * - The configured `concurrency` is the ceiling (`setCeiling`; across processes, this process's share).
 * - Slow start: the limit begins at `initial` and grows by one per success while the lane uses all of it
 *   (doubling each round trip), until the first overload. A ceiling of 256 in front of an upstream taking 32
 *   thus never sends 256 requests to learn it, which would spend the retries of 224 Items at once.
 * - Congestion avoidance: afterwards it grows by 1/limit per success of a full lane (one per round trip).
 * - Overload (429, 503, 529, or the latency of successes rising above `latencyFactor` times its floor)
 *   multiplies it by `decrease` (0.5 on leaving slow start, where the overshoot can be up to 2x). Only once
 *   per round trip: failures of attempts started before the last decrease saw the old limit and are ignored,
 *   so a burst of thirty 429s cuts once, not thirty times. A gentle 0.9 keeps the sawtooth between 90% and
 *   100% of the upstream's capacity (the issue's ≥ 90% goal), at the cost of slower retreat when capacity
 *   falls (about seven round trips to halve).
 *
 * Pure state: no timers, no clock. Attempt numbering (`started`) replaces time, so a manual clock cannot
 * make two round trips look like one.
 */

export interface AdaptiveLimitOptions {
  /** Where slow start begins (capped by the ceiling). */
  initial?: number;
  /** Multiplier on overload after slow start. */
  decrease?: number;
  /** Successes slower than this many times the latency floor (smoothed) count as overload. */
  latencyFactor?: number;
}

export const ADAPTIVE_DEFAULTS = { initial: 8, decrease: 0.9, latencyFactor: 4 } as const;

/** Latency floors older than this many successes are forgotten (the floor may have risen for good). */
const FLOOR_WINDOW = 1_000;

export class AdaptiveLimit {
  private value: number;
  private ceilingValue: number;
  private slowStart = true;
  private nextAttempt = 0;
  /** Attempts numbered below this started before the last decrease. */
  private decreasedAt = 0;
  private readonly decrease: number;
  private readonly latencyFactor: number;
  private smoothedMs: number | null = null;
  private floorMs = Infinity;
  private nextFloorMs = Infinity;
  private floorSamples = 0;
  /** Overloads that cut the limit, since creation (for tests and logs). */
  decreases = 0;

  constructor(ceiling: number, options: AdaptiveLimitOptions = {}) {
    this.ceilingValue = Math.max(1, ceiling);
    this.value = Math.min(this.ceilingValue, options.initial ?? ADAPTIVE_DEFAULTS.initial);
    this.decrease = options.decrease ?? ADAPTIVE_DEFAULTS.decrease;
    this.latencyFactor = options.latencyFactor ?? ADAPTIVE_DEFAULTS.latencyFactor;
  }

  /** Attempts allowed at once now (at least 1). */
  get current(): number {
    return Math.max(1, Math.floor(this.value));
  }

  /** Smoothed latency of successes (ms), or null before the first: the backend's pace (Little's law). */
  get latencyMs(): number | null {
    return this.smoothedMs;
  }

  get ceiling(): number {
    return this.ceilingValue;
  }

  /** A new ceiling (configuration change, or this process's share of a shared budget changed). */
  setCeiling(ceiling: number): void {
    this.ceilingValue = Math.max(1, ceiling);
    if (this.value > this.ceilingValue) this.value = this.ceilingValue;
  }

  /** Ceiling and limit both `ceiling`: for lanes that do not adapt. */
  fixAt(ceiling: number): void {
    this.ceilingValue = Math.max(1, ceiling);
    this.value = this.ceilingValue;
  }

  /** An attempt starts; pass the returned number to `succeeded` / `overloaded`. */
  started(): number {
    return this.nextAttempt++;
  }

  /** An attempt succeeded after `latencyMs`, with `running` attempts in flight (itself included). */
  succeeded(attempt: number, latencyMs: number, running: number): void {
    if (this.observeLatency(latencyMs)) {
      this.overloaded(attempt);
      return;
    }
    // Only a lane that used its whole limit has shown the limit is not too low.
    if (running < this.current) return;
    const step = this.slowStart ? 1 : 1 / this.value;
    this.value = Math.min(this.ceilingValue, this.value + step);
  }

  /** The upstream said it is overloaded (429/503) to `attempt`. Returns whether the limit was cut. */
  overloaded(attempt: number): boolean {
    if (attempt < this.decreasedAt) return false;
    this.value = Math.max(1, this.value * (this.slowStart ? 0.5 : this.decrease));
    this.slowStart = false;
    this.decreasedAt = this.nextAttempt;
    this.decreases += 1;
    return true;
  }

  /** Tracks the smoothed latency and its floor; true when the smoothed latency is well above the floor. */
  private observeLatency(latencyMs: number): boolean {
    this.smoothedMs = this.smoothedMs === null ? latencyMs : this.smoothedMs * 0.9 + latencyMs * 0.1;
    this.nextFloorMs = Math.min(this.nextFloorMs, this.smoothedMs);
    this.floorMs = Math.min(this.floorMs, this.smoothedMs);
    if (++this.floorSamples >= FLOOR_WINDOW) {
      this.floorMs = this.nextFloorMs;
      this.nextFloorMs = Infinity;
      this.floorSamples = 0;
    }
    // A floor of a few milliseconds (loopback, cache hits) would turn ordinary jitter into overload.
    return this.smoothedMs > Math.max(this.floorMs, 5) * this.latencyFactor;
  }
}

/** Upstream statuses that mean "too much load", not "this request is wrong". */
export function isOverloadStatus(status: number | null): boolean {
  return status === 429 || status === 503 || status === 529;
}
