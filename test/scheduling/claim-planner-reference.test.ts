/**
 * The claim planner against the plain version it replaced (a full sort of every Batch per claim, Maps
 * throughout): the prepared, scan-first planner must hand out exactly the same claims, claim after claim,
 * as shares, caps and budgets change, so its speed (issue 11) costs nothing in what each Batch gets.
 */
import { describe, expect, it } from "vitest";
import { ClaimPlanner, fitToCaps, type ClaimShare } from "../../src/scheduling/claim-planner.ts";
import type { Share } from "../../src/scheduling/fair-share.ts";

/** Park-Miller: the same scenarios on every run. */
function random(seed: number): () => number {
  let state = seed;
  return () => {
    state = (state * 48_271) % 2_147_483_647;
    return state / 2_147_483_647;
  };
}

describe("claim planner, against the reference planner", () => {
  it("plans the same claims over changing shares, caps and budgets", () => {
    for (let scenario = 1; scenario <= 60; scenario += 1) {
      const next = random(scenario * 7_919);
      const fast = new ClaimPlanner();
      const reference = new ReferencePlanner();
      let shares: Share[] = [];
      let caps = new Map<number, number>();
      let budget = 32;
      let nextSeq = 1;
      for (let claim = 0; claim < 200; claim += 1) {
        if (claim % 15 === 0) {
          // A new read of the queue: some Batches leave, some arrive, fractions and caps change.
          const kept = shares.filter(() => next() > 0.3).map((share) => share.seq);
          const arrivals = Math.floor(next() * (scenario % 3 === 0 ? 400 : 20));
          for (let i = 0; i < arrivals; i += 1) kept.push(nextSeq++);
          const weights = kept.map(() => (next() < 0.1 ? 0 : next() < 0.2 ? 50 : 1 + Math.floor(next() * 4)));
          const total = weights.reduce((sum, weight) => sum + weight, 0) || 1;
          shares = kept.map((seq, i) => ({ seq, fraction: (weights[i] as number) / total, reserved: 0, heldUntilMs: null }));
          caps = new Map(kept.filter(() => next() < 0.7).map((seq) => [seq, 1 + Math.floor(next() * (next() < 0.5 ? 6 : 300))]));
          budget = [1, 7, 32, 64, 128][Math.floor(next() * 5)] as number;
        }
        expect(fast.plan(budget, shares, caps), `scenario ${scenario}, claim ${claim}`).toEqual(reference.plan(budget, shares, caps));
      }
    }
  });
});

// The planner as it was before it was prepared per read (git history: src/scheduling/claim-planner.ts); its
// fitting to caps is unchanged, so both use the one fitToCaps.
class ReferencePlanner {
  private readonly deficits = new Map<number, number>();

  /**
   * Splits `budget` Items over `shares` (in their order: the order the Items are dispatched in). `caps` is
   * an upper bound of what each Batch still has (its remaining Items); a Batch missing from it is unbounded.
   */
  plan(budget: number, shares: readonly Share[], caps: ReadonlyMap<number, number> = new Map()): ClaimShare[] {
    const running = shares.filter((share) => share.fraction > 0);
    const live = new Set(running.map((share) => share.seq));
    for (const seq of this.deficits.keys()) if (!live.has(seq)) this.deficits.delete(seq);
    const fractions = fitToCaps(running, budget, caps);
    const chunk = Math.max(1, Math.floor(budget / 8));
    const taken = new Map<number, number>();
    let left = budget;
    for (const share of running) {
      const cap = caps.get(share.seq) ?? Infinity;
      const credit = clamp((this.deficits.get(share.seq) ?? 0) + budget * (fractions.get(share.seq) ?? 0), budget);
      let take = Math.max(0, Math.min(Math.floor(credit), left, cap));
      // Less than a chunk waits for more credit, unless it is all the Batch has left.
      if (take < chunk && take < cap) take = 0;
      // A Batch with less than its share to claim keeps no credit, as a DRR flow whose queue ran empty.
      this.deficits.set(share.seq, take >= cap ? 0 : credit - take);
      taken.set(share.seq, take);
      left -= take;
    }
    // Rounding to chunks leaves less than a chunk per Batch: a chunk each to the most credit first (with
    // room), charged to them; round after round while some is left (only when few Batches have room).
    const roomOf = (seq: number): number => (caps.get(seq) ?? Infinity) - (taken.get(seq) ?? 0);
    let open = running.filter((share) => roomOf(share.seq) > 0).sort((a, b) => (this.deficits.get(b.seq) ?? 0) - (this.deficits.get(a.seq) ?? 0));
    while (left > 0 && open.length > 0) {
      for (const share of open) {
        if (left === 0) break;
        const give = Math.min(left, roomOf(share.seq), open.length === 1 ? Infinity : chunk);
        taken.set(share.seq, (taken.get(share.seq) ?? 0) + give);
        this.deficits.set(share.seq, clamp((this.deficits.get(share.seq) ?? 0) - give, budget));
        left -= give;
      }
      open = open.filter((share) => roomOf(share.seq) > 0);
    }
    return running.map((share) => ({ batchSeq: share.seq, limit: taken.get(share.seq) ?? 0 })).filter((entry) => entry.limit > 0);
  }
}

function clamp(value: number, bound: number): number {
  return Math.max(-bound, Math.min(bound, value));
}
