/**
 * The one keeper of a Batch-level Lease (validation or finalization). Long work under the Lease calls
 * `keep()` between steps; it renews at most every third of the Lease period and throws LeaseLostError once
 * the Store says another owner took the Batch over — from then on this process must stop writing for it.
 */
import type { Clock } from "../core/clock.ts";
import type { Store } from "../store/store.ts";

export class LeaseLostError extends Error {
  constructor(
    readonly batchId: string,
    readonly phase: "validation" | "finalization",
  ) {
    super(`Lost the ${phase} lease of ${batchId}; another worker took the batch over.`);
    this.name = "LeaseLostError";
  }
}

export class BatchLease {
  private lastRenewalMs: number;

  constructor(
    private readonly params: { store: Store; clock: Clock; batchId: string; owner: string; leaseMs: number; phase: "validation" | "finalization" },
  ) {
    this.lastRenewalMs = params.clock.now();
  }

  async keep(): Promise<void> {
    const { store, clock, batchId, owner, leaseMs, phase } = this.params;
    if (clock.now() - this.lastRenewalMs <= leaseMs / 3) return;
    this.lastRenewalMs = clock.now();
    if (!(await store.renewBatchLease(batchId, { owner, nowMs: this.lastRenewalMs, leaseMs }))) throw new LeaseLostError(batchId, phase);
  }
}
