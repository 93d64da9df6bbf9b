/**
 * How many Items a Model finishes per second *while it has work*: Items finished over the last 10 seconds
 * divided by the part of those seconds in which at least one Item was in flight. Dividing by busy time
 * rather than wall time is what makes it a capacity: a lane that idled half the minute still reports what
 * it does when busy, which is what the share policy and the forecast need. While the lane never runs
 * more than a few Items at once (a small Batch on an idle Model) it measures that pace, a lower bound.
 *
 * In memory, one per Worker lane, driven by the injected clock: the Worker reports it to the Store
 * (`recordThroughput`), where the rates of every process are summed.
 */
const WINDOW_SECONDS = 10;
/** How often a lane reports its rate to the Store (at most; only while it has one). */
export const THROUGHPUT_REPORT_MS = 2_000;
/** Reports this close to the newest one are one round: the processes alive then (Store.modelThroughput). */
export const THROUGHPUT_ROUND_MS = 3 * THROUGHPUT_REPORT_MS;
/** Below this much busy time in the window the rate is noise (a handful of Items): unknown. */
const MIN_BUSY_MS = 250;

export class ThroughputMeter {
  private readonly seconds = new Float64Array(WINDOW_SECONDS).fill(-1);
  private readonly finishedIn = new Float64Array(WINDOW_SECONDS);
  private readonly busyMsIn = new Float64Array(WINDOW_SECONDS);
  private active = 0;
  private lastMs: number | null = null;

  /** `count` Items went in flight at `nowMs`. */
  started(count: number, nowMs: number): void {
    this.advance(nowMs);
    this.active += count;
  }

  /** `count` Items finished (with any result) at `nowMs`. */
  finished(count: number, nowMs: number): void {
    this.advance(nowMs);
    this.active = Math.max(0, this.active - count);
    const slot = this.slot(Math.floor(nowMs / 1000));
    this.finishedIn[slot] = (this.finishedIn[slot] ?? 0) + count;
  }

  /** Items per second while busy over the window, or null when too little was busy to tell. */
  rate(nowMs: number): number | null {
    this.advance(nowMs);
    const now = Math.floor(nowMs / 1000);
    let finished = 0;
    let busyMs = 0;
    for (let slot = 0; slot < WINDOW_SECONDS; slot += 1) {
      const second = this.seconds[slot] ?? -1;
      if (second > now - WINDOW_SECONDS && second <= now) {
        finished += this.finishedIn[slot] ?? 0;
        busyMs += this.busyMsIn[slot] ?? 0;
      }
    }
    return busyMs >= MIN_BUSY_MS && finished > 0 ? finished / (busyMs / 1000) : null;
  }

  /** Adds the busy time since the last event, split over the seconds it spans (only the window's matter). */
  private advance(nowMs: number): void {
    const from = this.lastMs;
    this.lastMs = nowMs;
    if (from === null || this.active === 0 || nowMs <= from) return;
    let at = Math.max(from, nowMs - WINDOW_SECONDS * 1000);
    while (at < nowMs) {
      const second = Math.floor(at / 1000);
      const end = Math.min(nowMs, (second + 1) * 1000);
      const slot = this.slot(second);
      this.busyMsIn[slot] = (this.busyMsIn[slot] ?? 0) + (end - at);
      at = end;
    }
  }

  /** The ring slot of `second`, emptied first when it last held an older second. */
  private slot(second: number): number {
    const slot = second % WINDOW_SECONDS;
    if (this.seconds[slot] !== second) {
      this.seconds[slot] = second;
      this.finishedIn[slot] = 0;
      this.busyMsIn[slot] = 0;
    }
    return slot;
  }
}
