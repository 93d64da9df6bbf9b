/**
 * The Batches this process has seen cancelled, its own cancels and other processes' (work events, decision
 * 0046), so a validation under way can stop at its next chunk instead of reading the rest of a large input
 * for Items that would all be cancelled (validate-batch.ts). Bounded: the oldest ids go first, long after
 * any validation of them has ended.
 */
const MAX_REMEMBERED = 10_000;

export class CancelledBatches {
  private readonly ids = new Set<string>();

  add(batchId: string): void {
    this.ids.add(batchId);
    if (this.ids.size > MAX_REMEMBERED) this.ids.delete(this.ids.values().next().value!);
  }

  has(batchId: string): boolean {
    return this.ids.has(batchId);
  }
}
