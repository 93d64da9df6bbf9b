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

const slotsOf = (backends: Parameters<typeof backendAllowances>[0], demand: number): number[] => backendAllowances(backends, demand).map((allowance) => allowance.slots);

describe("backend allowances", () => {
  it("gives only the cheapest backend work while it covers the demand", () => {
    expect(slotsOf([cheap, dear], 0)).toEqual([4, 0]);
    expect(slotsOf([cheap, dear], 40 / DEMAND_MARGIN - 1)).toEqual([4, 0]);
  });

  it("gives a dearer backend what the cheaper one leaves, as a rate of starts, with the slots it needs", () => {
    // 60/s asked (with the margin): 20/s left; at 320/s for 16 slots that is 1 slot, started 20 times a second.
    const [first, second] = backendAllowances([cheap, dear], 60 / DEMAND_MARGIN);
    expect(first).toEqual({ slots: 4, rate: null });
    expect(second?.slots).toBe(1);
    expect(second?.rate).toBeCloseTo(20, 9);
    // 100/s: 60/s left, 3 slots.
    const [, third] = backendAllowances([cheap, dear], 100 / DEMAND_MARGIN);
    expect(third?.slots).toBe(3);
    expect(third?.rate).toBeCloseTo(60, 9);
    // More than it can do: all of it, no rate.
    expect(backendAllowances([cheap, dear], 10_000)).toEqual([{ slots: 4, rate: null }, { slots: 16, rate: null }]);
  });

  it("fills three backends in price order, the last one partly", () => {
    const middle = { limit: 8, latencyMs: 100, usable: true }; // 80/s
    const plan = backendAllowances([cheap, middle, dear], 160 / DEMAND_MARGIN);
    expect(plan.slice(0, 2)).toEqual([{ slots: 4, rate: null }, { slots: 8, rate: null }]);
    expect(plan[2]?.slots).toBe(2);
    expect(plan[2]?.rate).toBeCloseTo(40, 9);
  });

  it("probes a dearer backend whose pace is unknown with one request", () => {
    expect(slotsOf([cheap, { ...dear, latencyMs: null }], 100)).toEqual([4, 1]);
    // The cheapest's pace unknown: what it leaves is unknown, the next gets a probe at most.
    expect(slotsOf([{ ...cheap, latencyMs: null }, dear], 1_000)).toEqual([4, 1]);
    expect(slotsOf([{ ...cheap, latencyMs: null }, dear], 0)).toEqual([4, 0]);
  });

  it("skips a backend whose breaker is open: the next one runs at its whole limit", () => {
    expect(slotsOf([{ ...cheap, usable: false }, dear], 0)).toEqual([0, 16]);
    expect(slotsOf([cheap, { ...dear, usable: false }], 10_000)).toEqual([4, 0]);
  });
});
