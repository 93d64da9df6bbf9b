/**
 * AdaptiveLimit (AIMD) alone, driven attempt by attempt: slow start, one cut per round trip, additive growth
 * only while the lane is full, the ceiling, and latency as a congestion signal.
 */
import { describe, expect, it } from "vitest";
import { AdaptiveLimit } from "../../src/dispatch/adaptive-limit.ts";

/** One round trip of a full lane (a queue behind it): `limit.current` attempts succeeding after `latencyMs`. */
function healthyRound(limit: AdaptiveLimit, latencyMs = 50): void {
  const attempts = Array.from({ length: limit.current }, () => limit.started());
  for (const attempt of attempts) limit.succeeded(attempt, latencyMs, limit.current);
}

describe("AdaptiveLimit", () => {
  it("doubles per round trip in slow start, then halves once on the first overload however many attempts saw it", () => {
    const limit = new AdaptiveLimit(256, { initial: 8 });
    healthyRound(limit);
    expect(limit.current).toBe(16);
    healthyRound(limit);
    expect(limit.current).toBe(32);
    healthyRound(limit);
    expect(limit.current).toBe(64);
    const burst = Array.from({ length: 64 }, () => limit.started());
    const cuts = burst.map((attempt) => limit.overloaded(attempt)).filter(Boolean).length;
    expect(cuts).toBe(1);
    expect(limit.current).toBe(32);
  });

  it("after slow start grows by about one per round trip and cuts by the decrease factor", () => {
    const limit = new AdaptiveLimit(256, { initial: 40, decrease: 0.9 });
    limit.overloaded(limit.started()); // leaves slow start: 40 -> 20
    expect(limit.current).toBe(20);
    for (let round = 0; round < 10; round += 1) healthyRound(limit);
    expect(limit.current).toBeGreaterThanOrEqual(29);
    expect(limit.current).toBeLessThanOrEqual(30);
    const before = limit.current;
    limit.overloaded(limit.started());
    expect(limit.current).toBe(Math.floor(before * 0.9));
  });

  it("does not grow while the lane leaves part of its limit unused", () => {
    const limit = new AdaptiveLimit(256, { initial: 16 });
    for (let index = 0; index < 1_000; index += 1) limit.succeeded(limit.started(), 50, 3);
    expect(limit.current).toBe(16);
  });

  it("stays under its ceiling, follows a lowered ceiling, and never goes below one", () => {
    const limit = new AdaptiveLimit(12, { initial: 8 });
    for (let round = 0; round < 5; round += 1) healthyRound(limit);
    expect(limit.current).toBe(12);
    limit.setCeiling(5);
    expect(limit.current).toBe(5);
    for (let cut = 0; cut < 50; cut += 1) limit.overloaded(limit.started());
    expect(limit.current).toBe(1);
  });

  it("treats latency far above its floor as overload", () => {
    const limit = new AdaptiveLimit(64, { initial: 32, latencyFactor: 4 });
    for (let round = 0; round < 3; round += 1) healthyRound(limit, 50);
    const grown = limit.current;
    expect(grown).toBeGreaterThan(32);
    // The upstream queues: answers now take 20x longer; the smoothed latency crosses 4x the floor.
    for (let round = 0; round < 3; round += 1) healthyRound(limit, 1_000);
    expect(limit.current).toBeLessThan(grown);
    expect(limit.decreases).toBeGreaterThan(0);
  });
});
