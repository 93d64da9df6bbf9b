/**
 * How busy this process's event loop is, as a factor for the Batch requests' share of slots while sync
 * requests are about (lane.ts, decision 0025 amended). With a fast upstream a Batch is limited by the event
 * loop, not by the slots: a quarter of 64 slots still runs thousands of Batch requests a second, and a sync
 * request then waits behind their callbacks at every step of its own path (measured: p99 4-8x the idle
 * p99 while a 100k Batch ran). Slots alone cannot see that; the loop's delay can.
 *
 * AIMD on the delay: every `everyMs` the p99 of the loop's delay over that period (perf_hooks' histogram:
 * how late a 5 ms timer fires) is compared with `targetMs`: above it the factor halves (down to
 * `minFactor`), at or below it the factor grows by `step` (up to 1). Only Batch requests yield to it, and
 * only while sync requests are about: with no sync traffic the factor is not looked at, and the loop is
 * not measured (LoopPressure below).
 */
import { monitorEventLoopDelay, type IntervalHistogram } from "node:perf_hooks";

export interface LoopPressureReading {
  /** 0 < factor <= 1: the part of their sync-first share Batch requests may use now. */
  readonly factor: number;
}

/** How often the histogram's timer samples the loop (ms). */
const RESOLUTION_MS = 5;

export const LOOP_PRESSURE_DEFAULTS = { targetMs: 2, everyMs: 100, minFactor: 1 / 64, step: 1 / 8, idleAfterMs: 60_000 };

/**
 * Measures only while the factor is asked for (sync requests are about) and for `idleAfterMs` after the
 * last ask: the histogram's 5 ms timer woke an idle server 200 times a second, half of its idle CPU (11 of
 * 24 ms/s measured), and during a llama-cpp Batch each wake lands between the steps of token generation.
 * The factor keeps its last value while nobody asks: the first sync request after a quiet spell is
 * protected by what the loop last showed, and a loop that has since calmed down gives it back within a
 * second (8 periods of `step`).
 */
export class LoopPressure implements LoopPressureReading {
  private current = 1;
  private readonly histogram: IntervalHistogram;
  private timer: NodeJS.Timeout | null = null;
  private askedAt = 0;
  private closed = false;

  constructor(private readonly settings = LOOP_PRESSURE_DEFAULTS) {
    this.histogram = monitorEventLoopDelay({ resolution: RESOLUTION_MS });
  }

  get factor(): number {
    this.askedAt = performance.now();
    if (this.timer === null && !this.closed) this.watch();
    return this.current;
  }

  /** Whether the loop is being measured now. */
  get watching(): boolean {
    return this.timer !== null;
  }

  /** One period's p99 loop delay, in ms (called by the timer; tests call it directly). */
  observe(p99Ms: number): void {
    this.histogram.reset();
    const { targetMs, minFactor, step } = this.settings;
    this.current = p99Ms > targetMs ? Math.max(minFactor, this.current / 2) : Math.min(1, this.current + step);
  }

  close(): void {
    this.closed = true;
    this.unwatch();
  }

  private watch(): void {
    this.histogram.reset();
    this.histogram.enable();
    // The histogram holds the whole interval between its timer's runs (5.1 ms on an idle loop), not the
    // lateness: the resolution is subtracted.
    this.timer = setInterval(() => {
      if (performance.now() - this.askedAt > this.settings.idleAfterMs) this.unwatch();
      else this.observe(Math.max(0, this.histogram.percentile(99) / 1e6 - RESOLUTION_MS));
    }, this.settings.everyMs);
    this.timer.unref();
  }

  private unwatch(): void {
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
    this.histogram.disable();
  }
}

/** For Lanes built without one (tests, tools): never presses. */
export const NO_PRESSURE: LoopPressureReading = { factor: 1 };
