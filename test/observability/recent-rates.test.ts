/** RecentRates: the models page's last-minute throughput, error rate and prefix-cache hit share. */
import { describe, expect, it } from "vitest";
import { RecentRates } from "../../src/observability/recent-rates.ts";

describe("RecentRates", () => {
  it("counts finished and failed Items over the last minute and forgets older ones", () => {
    const rates = new RecentRates();
    const start = 1_000_000_000;
    rates.record("m", "succeeded", start);
    rates.record("m", "failed", start + 500);
    rates.record("m", "succeeded", start + 30_000);
    expect(rates.rate("m", start + 30_000)).toMatchObject({ finished: 3, failed: 1, errorRate: 1 / 3 });
    expect(rates.rate("m", start + 61_000)).toMatchObject({ finished: 1, failed: 0, errorRate: 0 });
    expect(rates.rate("other", start)).toMatchObject({ finished: 0, errorRate: null, cachedInputShare: null });
  });

  it("gives the cached share of input tokens over the results whose engine reports it, null when none did", () => {
    const rates = new RecentRates();
    const start = 2_000_000_000;
    rates.record("m", "succeeded", start, { inputTokens: 100, outputTokens: 5 });
    expect(rates.rate("m", start).cachedInputShare).toBeNull();
    rates.record("m", "succeeded", start + 1_000, { inputTokens: 300, outputTokens: 5, cachedInputTokens: 0 });
    rates.record("m", "succeeded", start + 2_000, { inputTokens: 100, outputTokens: 5, cachedInputTokens: 100 });
    // 100 of 400 reported input tokens; the result that said nothing about its cache does not count.
    expect(rates.rate("m", start + 2_000).cachedInputShare).toBe(0.25);
    // A minute on, the 300 uncached tokens have left the window (their slot is reused from zero); the
    // 100 cached ones recorded a second later have not.
    rates.record("m", "succeeded", start + 61_000, { inputTokens: 50, outputTokens: 1, cachedInputTokens: 25 });
    expect(rates.rate("m", start + 61_000).cachedInputShare).toBe(125 / 150);
  });
});
