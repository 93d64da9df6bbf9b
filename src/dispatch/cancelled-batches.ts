/**
 * The Batches this process has seen cancelled (Dispatcher.cancelBatch: its own cancels and other processes',
 * announced as work events, decision 0046). The Dispatcher refuses their late requests; a validation under
 * way stops at its next chunk instead of reading the rest of a large input for Items that would all be
 * cancelled (validate-batch.ts). Bounded: the oldest ids go first, long after any of their work has ended.
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
