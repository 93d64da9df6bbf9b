/**
 * Deficit round-robin over the shares (fair-share.ts): turns "Batch A gets 0.7 of the Model, B 0.3" into
 * "this claim of 128 Items takes 90 from A and 38 from B", one claim at a time, so that over many claims
 * each Batch gets its share exactly, even one whose share is a fraction of an Item per claim.
 *
 * Each claim adds `budget * fraction` to every running Batch's deficit (its credit, in Items) and takes the
 * whole Items of it. The fractions left over carry to the next claim: a Batch with 0.1% of a 128-Item
 * budget gets one Item every eight claims. A Batch that leaves the shares (held, or found empty by a
 * claim) loses its credit, as a DRR flow with an empty queue does, so it cannot save up a burst while
 * idle; credit is capped at one budget for the same reason. A Batch with fewer Items left than its share of a
 * claim gets them all and the rest goes to the others (max-min fair), so the lane never claims less than
 * it could; what whole-Item rounding leaves goes to the Batches with the most credit, charged to them, so
 * the shares hold exactly over time.
 *
 * One planner per Worker lane (Model), in memory: several processes each share their own claims the same
 * way, so the shares hold across processes too.
 */
import type { Share } from "./fair-share.ts";

/** Claim up to `limit` Items of the Batch `batchSeq` (the Store's claim takes a list of these). */
export interface ClaimShare {
  batchSeq: number;
  limit: number;
}

/**
 * A claim takes Items from at most about this many Batches: each Batch's part of a claim is a chunk of
 * at least budget/8 Items (or all it has left), its credit carrying over until it has that much. Every Batch in a claim
 * is one more statement (SQLite) or index range (PostgreSQL), and one more Batch row whose counters the
 * next completion write updates: with 20 small Batches sharing a Model, Items one or two at a time per
 * Batch cost a fifth more CPU per Batch than claiming them in chunks. Over many claims the shares are the same.
 */
const MAX_BATCHES_PER_CLAIM = 8;

export class ClaimPlanner {
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
    const chunk = Math.max(1, Math.floor(budget / MAX_BATCHES_PER_CLAIM));
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

/**
 * The shares, refitted so that no Batch is given more of this claim than it has (`caps`): what a small
 * Batch cannot take goes to the others in proportion to their shares (max-min fairness), uncharged: they
 * took what nobody else could use. Repeated until no Batch exceeds its cap (at most once per Batch).
 */
function fitToCaps(running: readonly Share[], budget: number, caps: ReadonlyMap<number, number>): Map<number, number> {
  const fractions = new Map(running.map((share) => [share.seq, share.fraction]));
  const capped = new Set<number>();
  for (let round = 0; round < running.length; round += 1) {
    let excess = 0;
    for (const share of running) {
      const fraction = fractions.get(share.seq) ?? 0;
      const most = (caps.get(share.seq) ?? Infinity) / budget;
      if (fraction > most) {
        excess += fraction - most;
        fractions.set(share.seq, most);
        capped.add(share.seq);
      }
    }
    const open = running.filter((share) => !capped.has(share.seq));
    const openTotal = open.reduce((sum, share) => sum + (fractions.get(share.seq) ?? 0), 0);
    if (excess <= 0 || openTotal <= 0) break;
    for (const share of open) fractions.set(share.seq, (fractions.get(share.seq) ?? 0) * (1 + excess / openTotal));
  }
  return fractions;
}

function clamp(value: number, bound: number): number {
  return Math.max(-bound, Math.min(bound, value));
}
