/**
 * The allowance plan (src/dispatch/backend-allowance.ts): the cheapest usable backend at its whole limit,
 * dearer ones only for what it leaves of the deadline demand, an unknown pace probed with one request, an
 * open breaker skipped.
 */
import { describe, expect, it } from "vitest";
import { backendAllowances, DEMAND_MARGIN } from "../../src/dispatch/backend-allowance.ts";

// 4 slots at 100 ms: 40 Items/s; 16 slots at 50 ms: 320 Items/s.
const cheap = { limit: 4, latencyMs: 100, usable: true };
const dear = { limit: 16, latencyMs: 50, usable: true };

describe("backend allowances", () => {
  it("gives only the cheapest backend work while it covers the demand", () => {
    expect(backendAllowances([cheap, dear], 0)).toEqual([4, 0]);
    expect(backendAllowances([cheap, dear], 40 / DEMAND_MARGIN - 1)).toEqual([4, 0]);
  });

  it("gives a dearer backend the part of its limit that covers what the cheaper one leaves, rounded up", () => {
    // 60/s asked (with the margin): 20/s left for 320/s at 16 slots, 1 slot makes 20/s.
    expect(backendAllowances([cheap, dear], 60 / DEMAND_MARGIN)).toEqual([4, 1]);
    // 100/s: 60/s left, 3 slots.
    expect(backendAllowances([cheap, dear], 100 / DEMAND_MARGIN)).toEqual([4, 3]);
    expect(backendAllowances([cheap, dear], 10_000)).toEqual([4, 16]);
  });

  it("fills three backends in price order, the last one partly", () => {
    const middle = { limit: 8, latencyMs: 100, usable: true }; // 80/s
    expect(backendAllowances([cheap, middle, dear], 160 / DEMAND_MARGIN)).toEqual([4, 8, 2]);
  });

  it("probes a dearer backend whose pace is unknown with one request", () => {
    expect(backendAllowances([cheap, { ...dear, latencyMs: null }], 100)).toEqual([4, 1]);
    // The cheapest's pace unknown: what it leaves is unknown, the next gets a probe at most.
    expect(backendAllowances([{ ...cheap, latencyMs: null }, dear], 1_000)).toEqual([4, 1]);
    expect(backendAllowances([{ ...cheap, latencyMs: null }, dear], 0)).toEqual([4, 0]);
  });

  it("skips a backend whose breaker is open: the next one runs at its whole limit", () => {
    expect(backendAllowances([{ ...cheap, usable: false }, dear], 0)).toEqual([0, 16]);
    expect(backendAllowances([cheap, { ...dear, usable: false }], 10_000)).toEqual([4, 0]);
  });
});
