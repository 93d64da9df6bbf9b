/**
 * Where this process's last claim from each Batch ended, so the next claim starts its walk of the claim
 * index there instead of at the Batch's first claim position (issue 11, decision 0039).
 *
 * Why: on PostgreSQL a claimed Item leaves its `items_pending` entry behind as a dead index tuple until
 * VACUUM, and the claim walks a Batch's entries in claim order from the start. Halfway through a 100k Batch
 * each claim stepped over ~50,000 dead entries: 0.73 ms per claim of 43 against 0.21 ms starting at the
 * last claimed position (EXPLAIN ANALYZE on a probe, warm buffers), growing with the Batch: quadratic.
 * Autovacuum clears them eventually (20% of the table by default), never within a run of seconds.
 *
 * A hint is only a lower bound to try first, never a limit on what can be claimed:
 * - the claim falls back to the walk from the start whenever the hinted walk comes back short, so an Item
 *   below the hint (returned to pending by an expired Lease, a release or a retry) is never stranded;
 * - this process's own requeues (the Sweeper's reclaim, release on shutdown, retry of failed Items) drop
 *   every hint at once, so such an Item is claimed next, as before;
 * - another process's requeue is seen when the hint expires (HINT_MS by the claim's clock) or the
 *   hinted walk runs short. Until then that Item waits behind up to a second of claims: the one change in order.
 */

const HINT_MS = 1_000;
/** Hints kept at most (one per Batch claimed from in the last second: a bound, not a working size). */
const MAX_HINTS = 10_000;

/** No lower bound: claim positions are never negative. */
export const NO_HINT = -1;

export class ClaimHints {
  private readonly hints = new Map<string, { position: number; atMs: number }>();

  /** The claim position to start at for `batchSeq` of `model`, or NO_HINT. */
  from(model: string, batchSeq: number, nowMs: number): number {
    const key = `${model}\u0000${batchSeq}`;
    const hint = this.hints.get(key);
    if (hint === undefined) return NO_HINT;
    if (nowMs - hint.atMs > HINT_MS || nowMs < hint.atMs) {
      this.hints.delete(key);
      return NO_HINT;
    }
    return hint.position;
  }

  /** The claim took Items of `batchSeq` up to claim position `position` (Items below it may still be pending: see the file's comment). */
  claimed(model: string, batchSeq: number, position: number, nowMs: number): void {
    const key = `${model}\u0000${batchSeq}`;
    const hint = this.hints.get(key);
    if (hint !== undefined && hint.position >= position) return;
    // It advances but keeps the time it was first set, so it expires a second after that: every Batch is
    // walked from its start at least once a second, which finds what another process put back.
    if (this.hints.size >= MAX_HINTS && hint === undefined) this.hints.clear();
    this.hints.set(key, { position, atMs: hint?.atMs ?? nowMs });
  }

  /** Items went back to pending in this process: the next claims walk from each Batch's start. */
  clear(): void {
    this.hints.clear();
  }
}
