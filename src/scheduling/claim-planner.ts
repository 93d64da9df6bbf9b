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

/**
 * Where a claim does not use every Batch's credit up, picks the Batches with the most credit one at a time
 * (a scan each) for at most this many picks, then sorts the rest: a claim's leftover goes to a few Batches
 * (about budget / chunk of them), so with hundreds queued a full sort per claim was most of the plan's cost.
 */
const PICKS_BEFORE_SORT = 16;

/**
 * The part of a plan that depends only on the shares and the caps, worked out when they change (once per
 * read of the lane's queue, not per claim): with hundreds of Batches queued, filtering and the Maps of
 * every claim cost more main-thread CPU than the claim itself (issue 11). The fitted fractions also depend
 * on the budget (what the lane has room for, which often differs from claim to claim): kept per budget.
 */
interface Prepared {
  shares: readonly Share[];
  caps: ReadonlyMap<number, number>;
  /** The running Batches (share above 0), in the shares' order; their seqs and caps by position. */
  running: Share[];
  seqs: number[];
  capOf: Float64Array;
  fractionsByBudget: Map<number, Float64Array>;
}

export class ClaimPlanner {
  private readonly deficits = new Map<number, number>();
  private prepared: Prepared | null = null;
  /** The credit of each running Batch by position (the Map above holds it while the shares change). */
  private credit = new Float64Array(0);

  /**
   * Splits `budget` Items over `shares` (in their order: the order the Items are dispatched in). `caps` is
   * an upper bound of what each Batch still has (its remaining Items); a Batch missing from it is unbounded.
   */
  plan(budget: number, shares: readonly Share[], caps: ReadonlyMap<number, number> = new Map()): ClaimShare[] {
    const { seqs, capOf } = this.prepare(shares, caps);
    const fractions = this.fractionsFor(budget);
    const deficit = this.credit;
    const count = seqs.length;
    const chunk = Math.max(1, Math.floor(budget / MAX_BATCHES_PER_CLAIM));
    const taken = new Float64Array(count);
    let left = budget;
    for (let i = 0; i < count; i += 1) {
      const cap = capOf[i] as number;
      const credit = clamp((deficit[i] as number) + budget * (fractions[i] as number), budget);
      let take = Math.max(0, Math.min(Math.floor(credit), left, cap));
      // Less than a chunk waits for more credit, unless it is all the Batch has left.
      if (take < chunk && take < cap) take = 0;
      // A Batch with less than its share to claim keeps no credit, as a DRR flow whose queue ran empty.
      deficit[i] = take >= cap ? 0 : credit - take;
      taken[i] = take;
      left -= take;
    }
    // Rounding to chunks leaves less than a chunk per Batch: a chunk each to the most credit first (with
    // room), charged to them; round after round while some is left (only when few Batches have room).
    if (left > 0) {
      const roomOf = (i: number): number => (capOf[i] as number) - (taken[i] as number);
      let open = byCreditWithRoom(deficit, count, roomOf);
      let visited = 0;
      while (left > 0 && visited < open.length) {
        const i = open.next(visited);
        visited += 1;
        const give = Math.min(left, roomOf(i), open.length === 1 ? Infinity : chunk);
        taken[i] = (taken[i] as number) + give;
        deficit[i] = clamp((deficit[i] as number) - give, budget);
        left -= give;
        if (visited === open.length && left > 0) {
          // Every Batch with room had its chunk: the next round, in the same order, over those with room left.
          open = open.keep((j) => roomOf(j) > 0);
          visited = 0;
        }
      }
    }
    const plan: ClaimShare[] = [];
    for (let i = 0; i < count; i += 1) if ((taken[i] as number) > 0) plan.push({ batchSeq: seqs[i] as number, limit: taken[i] as number });
    return plan;
  }

  /** The shares' running Batches and caps, and the credit carried over to them. */
  private prepare(shares: readonly Share[], caps: ReadonlyMap<number, number>): Prepared {
    const last = this.prepared;
    if (last !== null && last.shares === shares && last.caps === caps) return last;
    // Keep the credit of the Batches still running; a Batch that left the shares loses its credit.
    if (last !== null) last.seqs.forEach((seq, i) => this.deficits.set(seq, this.credit[i] as number));
    const running = shares.filter((share) => share.fraction > 0);
    const live = new Set(running.map((share) => share.seq));
    for (const seq of this.deficits.keys()) if (!live.has(seq)) this.deficits.delete(seq);
    const seqs = running.map((share) => share.seq);
    this.credit = Float64Array.from(seqs, (seq) => this.deficits.get(seq) ?? 0);
    this.prepared = { shares, caps, running, seqs, capOf: Float64Array.from(seqs, (seq) => caps.get(seq) ?? Infinity), fractionsByBudget: new Map() };
    return this.prepared;
  }

  /** The running Batches' fractions fitted to their caps for a claim of `budget`, by position. */
  private fractionsFor(budget: number): Float64Array {
    const prepared = this.prepared as Prepared;
    let fractions = prepared.fractionsByBudget.get(budget);
    if (fractions === undefined) {
      const fitted = fitToCaps(prepared.running, budget, prepared.caps);
      fractions = Float64Array.from(prepared.seqs, (seq) => fitted.get(seq) ?? 0);
      prepared.fractionsByBudget.set(budget, fractions);
    }
    return fractions;
  }
}

/** Positions in order of credit, most first (ties in shares order), produced as far as they are read. */
interface CreditOrder {
  readonly length: number;
  /** The position at `rank` (ranks are read in order: 0, 1, 2, ...). */
  next(rank: number): number;
  /** The positions that pass `test`, in the same order (all ranks read). */
  keep(test: (position: number) => boolean): CreditOrder;
}

/**
 * The Batches with room, most credit first, as a claim's leftover reads them: the first PICKS_BEFORE_SORT
 * by scanning for the largest (ranked by the credit they have now, before the leftover is given), the
 * rest sorted if it comes to that. Same order as a stable sort of all of them.
 */
function byCreditWithRoom(credit: Float64Array, count: number, roomOf: (i: number) => number): CreditOrder {
  const candidates: number[] = [];
  for (let i = 0; i < count; i += 1) if (roomOf(i) > 0) candidates.push(i);
  const rankBy = Float64Array.from(credit);
  const before = (a: number, b: number): boolean => (rankBy[a] as number) > (rankBy[b] as number) || ((rankBy[a] as number) === (rankBy[b] as number) && a < b);
  const order: number[] = [];
  const picked = new Uint8Array(count);
  const next = (rank: number): number => {
    while (order.length <= rank) {
      if (order.length >= PICKS_BEFORE_SORT) {
        const rest = candidates.filter((i) => picked[i] === 0).sort((a, b) => (before(a, b) ? -1 : 1));
        for (const i of rest) picked[i] = 1;
        order.push(...rest);
        break;
      }
      let best = -1;
      for (const i of candidates) if (picked[i] === 0 && (best < 0 || before(i, best))) best = i;
      picked[best] = 1;
      order.push(best);
    }
    return order[rank] as number;
  };
  const fixed = (positions: number[]): CreditOrder => ({ length: positions.length, next: (rank) => positions[rank] as number, keep: (test) => fixed(positions.filter(test)) });
  return {
    length: candidates.length,
    next,
    keep: (test) => {
      next(candidates.length - 1);
      return fixed(order.filter(test));
    },
  };
}

/**
 * The shares, refitted so that no Batch is given more of this claim than it has (`caps`): what a small
 * Batch cannot take goes to the others in proportion to their shares (max-min fairness), uncharged: they
 * took what nobody else could use. Repeated until no Batch exceeds its cap (at most once per Batch).
 */
export function fitToCaps(running: readonly Share[], budget: number, caps: ReadonlyMap<number, number>): Map<number, number> {
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
