/**
 * Per-Model throughput, error rate and prefix-cache hit share over the last minute, for the dashboard's
 * models page: a ring of one-second buckets per Model, bumped as results are recorded (no Store query).
 * Counts this process's Workers only: in a scale-out deployment each process shows its own.
 */
import type { TokenUsage } from "../core/types.ts";

const WINDOW_SECONDS = 60;

interface Ring {
  /** Epoch second of each slot's contents. */
  seconds: Int32Array;
  succeeded: Uint32Array;
  failed: Uint32Array;
  /** Input tokens, and the cached part of them, of results whose engine reported cached tokens. */
  inputTokens: Float64Array;
  cachedTokens: Float64Array;
}

export interface RecentRate {
  /** Items finished per second over the window. */
  itemsPerSecond: number;
  /** Failed share of the Items finished in the window; null when none finished. */
  errorRate: number | null;
  finished: number;
  failed: number;
  /**
   * Share of input tokens the engine took from its prefix cache (KV reuse, an upstream's cached_tokens),
   * over the results whose engine reports it; null when none in the window did.
   */
  cachedInputShare: number | null;
}

export class RecentRates {
  private readonly rings = new Map<string, Ring>();

  record(model: string, status: "succeeded" | "failed", nowMs: number, usage?: TokenUsage): void {
    let ring = this.rings.get(model);
    if (ring === undefined) {
      ring = {
        seconds: new Int32Array(WINDOW_SECONDS).fill(-1),
        succeeded: new Uint32Array(WINDOW_SECONDS),
        failed: new Uint32Array(WINDOW_SECONDS),
        inputTokens: new Float64Array(WINDOW_SECONDS),
        cachedTokens: new Float64Array(WINDOW_SECONDS),
      };
      this.rings.set(model, ring);
    }
    const second = Math.floor(nowMs / 1000);
    const slot = second % WINDOW_SECONDS;
    if (ring.seconds[slot] !== second) {
      ring.seconds[slot] = second;
      ring.succeeded[slot] = 0;
      ring.failed[slot] = 0;
      ring.inputTokens[slot] = 0;
      ring.cachedTokens[slot] = 0;
    }
    if (usage?.cachedInputTokens !== undefined) {
      ring.inputTokens[slot] = (ring.inputTokens[slot] ?? 0) + usage.inputTokens;
      ring.cachedTokens[slot] = (ring.cachedTokens[slot] ?? 0) + usage.cachedInputTokens;
    }
    if (status === "succeeded") ring.succeeded[slot] = (ring.succeeded[slot] ?? 0) + 1;
    else ring.failed[slot] = (ring.failed[slot] ?? 0) + 1;
  }

  rate(model: string, nowMs: number): RecentRate {
    const ring = this.rings.get(model);
    let succeeded = 0;
    let failed = 0;
    let inputTokens = 0;
    let cachedTokens = 0;
    const now = Math.floor(nowMs / 1000);
    if (ring !== undefined) {
      for (let slot = 0; slot < WINDOW_SECONDS; slot += 1) {
        const second = ring.seconds[slot] ?? -1;
        if (second > now - WINDOW_SECONDS && second <= now) {
          succeeded += ring.succeeded[slot] ?? 0;
          failed += ring.failed[slot] ?? 0;
          inputTokens += ring.inputTokens[slot] ?? 0;
          cachedTokens += ring.cachedTokens[slot] ?? 0;
        }
      }
    }
    const finished = succeeded + failed;
    return {
      itemsPerSecond: finished / WINDOW_SECONDS,
      errorRate: finished > 0 ? failed / finished : null,
      finished,
      failed,
      cachedInputShare: inputTokens > 0 ? cachedTokens / inputTokens : null,
    };
  }
}
