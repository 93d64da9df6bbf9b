/**
 * A fixed set of context sequences lent to one request at a time. All sequences belong to one LlamaContext,
 * and node-llama-cpp batches the pending tokens of every busy sequence into one decode call, so N requests
 * holding N sequences decode together (continuous batching inside the engine).
 *
 * Waiters are served first come, first served. A waiter whose signal fires leaves the queue at once.
 */

export class SequencePool<Sequence> {
  private readonly free: Sequence[];
  private readonly waiters: Array<{ grant: (sequence: Sequence) => void }> = [];
  private inUse = 0;
  private peakInUse = 0;

  constructor(sequences: readonly Sequence[]) {
    this.free = [...sequences];
  }

  get size(): number {
    return this.free.length + this.inUse;
  }

  /** Sequences lent out right now. */
  get busy(): number {
    return this.inUse;
  }

  /** Most sequences lent out at once since creation (evidence that requests ran in parallel). */
  get peakBusy(): number {
    return this.peakInUse;
  }

  /** Resolves with a sequence; rejects with `signal.reason` if the signal fires first. */
  acquire(signal: AbortSignal): Promise<Sequence> {
    if (signal.aborted) return Promise.reject(signal.reason);
    const sequence = this.free.pop();
    if (sequence !== undefined) return Promise.resolve(this.lend(sequence));
    return new Promise<Sequence>((resolve, reject) => {
      const waiter = {
        grant: (granted: Sequence) => {
          signal.removeEventListener("abort", onAbort);
          resolve(this.lend(granted));
        },
      };
      const onAbort = (): void => {
        const index = this.waiters.indexOf(waiter);
        if (index >= 0) this.waiters.splice(index, 1);
        reject(signal.reason);
      };
      signal.addEventListener("abort", onAbort, { once: true });
      this.waiters.push(waiter);
    });
  }

  release(sequence: Sequence): void {
    this.inUse--;
    const waiter = this.waiters.shift();
    if (waiter) waiter.grant(sequence);
    else this.free.push(sequence);
  }

  private lend(sequence: Sequence): Sequence {
    this.inUse++;
    this.peakInUse = Math.max(this.peakInUse, this.inUse);
    return sequence;
  }
}
