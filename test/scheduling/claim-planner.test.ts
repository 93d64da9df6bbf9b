/** Deficit round-robin over claims (src/scheduling/claim-planner.ts): shares hold over many claims, to the Item. */
import { describe, expect, it } from "vitest";
import { ClaimPlanner } from "../../src/scheduling/claim-planner.ts";
import type { Share } from "../../src/scheduling/fair-share.ts";

const share = (seq: number, fraction: number): Share => ({ seq, fraction, reserved: 0, heldUntilMs: null });
const totals = (plans: { batchSeq: number; limit: number }[][]): Record<number, number> => {
  const sums: Record<number, number> = {};
  for (const plan of plans) for (const entry of plan) sums[entry.batchSeq] = (sums[entry.batchSeq] ?? 0) + entry.limit;
  return sums;
};

describe("claim planner", () => {
  it("splits every claim by the shares and carries the fractions, so many claims add up to the shares exactly", () => {
    const planner = new ClaimPlanner();
    const shares = [share(1, 0.7), share(2, 0.2), share(3, 0.1)];
    const plans = Array.from({ length: 100 }, () => planner.plan(13, shares));
    for (const plan of plans) expect(plan.reduce((sum, entry) => sum + entry.limit, 0)).toBe(13);
    const sums = totals(plans);
    expect(Math.abs((sums[1] ?? 0) - 910)).toBeLessThanOrEqual(1);
    expect(Math.abs((sums[2] ?? 0) - 260)).toBeLessThanOrEqual(1);
    expect(Math.abs((sums[3] ?? 0) - 130)).toBeLessThanOrEqual(1);
  });

  it("gives a share smaller than one Item per claim an Item every few claims", () => {
    const planner = new ClaimPlanner();
    const shares = [share(1, 0.99), share(2, 0.01)];
    const plans = Array.from({ length: 50 }, () => planner.plan(10, shares));
    const claimsWithTwo = plans.map((plan, index) => (plan.some((entry) => entry.batchSeq === 2) ? index : -1)).filter((index) => index >= 0);
    expect(claimsWithTwo.length).toBe(5);
    expect(totals(plans)).toEqual({ 1: 495, 2: 5 });
  });

  it("lists batches in the order of the shares (the dispatch order)", () => {
    const plan = new ClaimPlanner().plan(10, [share(7, 0.5), share(3, 0.5)]);
    expect(plan).toEqual([{ batchSeq: 7, limit: 5 }, { batchSeq: 3, limit: 5 }]);
  });

  it("gives what a small batch cannot take to the others, so a claim is never smaller than the work allows", () => {
    const planner = new ClaimPlanner();
    const plan = planner.plan(128, [share(2, 0.5), share(1, 0.5)], new Map([[2, 10], [1, 200_000]]));
    expect(plan).toEqual([{ batchSeq: 2, limit: 10 }, { batchSeq: 1, limit: 118 }]);
  });

  it("skips held batches (share 0)", () => {
    expect(new ClaimPlanner().plan(4, [share(1, 0.5), share(9, 0), share(2, 0.5)])).toEqual([{ batchSeq: 1, limit: 2 }, { batchSeq: 2, limit: 2 }]);
    expect(new ClaimPlanner().plan(4, [])).toEqual([]);
  });

  it("does not let a batch save up the share it could not use into a burst, nor charge the others for using it", () => {
    const planner = new ClaimPlanner();
    for (let round = 0; round < 3; round += 1) {
      expect(planner.plan(10, [share(1, 0.5), share(2, 0.5)], new Map([[2, 1]]))).toEqual([{ batchSeq: 1, limit: 9 }, { batchSeq: 2, limit: 1 }]);
    }
    expect(planner.plan(10, [share(1, 0.5), share(2, 0.5)])).toEqual([{ batchSeq: 1, limit: 5 }, { batchSeq: 2, limit: 5 }]);
  });

  it("claims from a few Batches at a time, in chunks, and still gives each its share over many claims", () => {
    const planner = new ClaimPlanner();
    const shares = Array.from({ length: 20 }, (_, i) => share(i + 1, 1 / 20));
    const plans = Array.from({ length: 100 }, () => planner.plan(128, shares));
    for (const plan of plans) {
      expect(plan.length).toBeLessThanOrEqual(9);
      expect(plan.reduce((sum, entry) => sum + entry.limit, 0)).toBe(128);
      expect(plan.filter((entry) => entry.limit < 16).length).toBeLessThanOrEqual(1);
    }
    const sums = Object.values(totals(plans));
    expect(sums).toHaveLength(20);
    for (const sum of sums) expect(Math.abs(sum - 640)).toBeLessThanOrEqual(16);
  });

  it("takes less than a chunk when that is all a Batch has left", () => {
    const plan = new ClaimPlanner().plan(128, [share(1, 0.5), share(2, 0.5)], new Map([[1, 3]]));
    expect(plan).toEqual([{ batchSeq: 1, limit: 3 }, { batchSeq: 2, limit: 125 }]);
  });
});
