/**
 * A fixed set of context sequences lent to one request at a time. All sequences belong to one LlamaContext,
 * and node-llama-cpp batches the pending tokens of every busy sequence into one decode call, so N requests
 * holding N sequences decode together (continuous batching inside the engine).
 *
 * Affinity: a request may say how much each sequence is worth to it (for KV reuse, the length of the prompt
 * prefix the sequence already holds). A free sequence is chosen by highest affinity, ties going to the one
 * released longest ago, so a sequence holding a prefix nobody asked for lately is the one overwritten. A
 * released sequence goes to the waiter that values it most, ties going to the oldest waiter. A waiter passed
 * over MAX_SKIPS times is served next whatever the affinities, so a request whose prefix no sequence holds
 * cannot starve behind a stream of requests that do.
 *
 * Without affinities this is first come, first served. A waiter whose signal fires leaves the queue at once.
 */

export type Affinity<Sequence> = (sequence: Sequence) => number;

interface Waiter<Sequence> {
  affinity: Affinity<Sequence> | undefined;
  skipped: number;
  grant: (sequence: Sequence) => void;
}

/** Bounds how long a waiter can be overtaken by better-matching ones. */
const MAX_SKIPS = 8;
/** Waiters looked at per release: keeps a release O(1) in the queue length. */
const MATCH_WINDOW = 64;

export class SequencePool<Sequence> {
  /** Oldest release first. */
  private readonly free: Sequence[];
  private readonly waiters: Array<Waiter<Sequence>> = [];
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

  /** Requests waiting for a sequence. */
  get waiting(): number {
    return this.waiters.length;
  }

  /** Most sequences lent out at once since creation (evidence that requests ran in parallel). */
  get peakBusy(): number {
    return this.peakInUse;
  }

  /** Resolves with a sequence; rejects with `signal.reason` if the signal fires first. */
  acquire(signal: AbortSignal, affinity?: Affinity<Sequence>): Promise<Sequence> {
    if (signal.aborted) return Promise.reject(signal.reason);
    if (this.free.length > 0) {
      const index = bestIndex(this.free, (sequence) => affinity?.(sequence) ?? 0);
      return Promise.resolve(this.lend(this.free.splice(index, 1)[0]!));
    }
    return new Promise<Sequence>((resolve, reject) => {
      const waiter: Waiter<Sequence> = {
        affinity,
        skipped: 0,
        grant: (granted) => {
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
    if (this.waiters.length === 0) {
      this.free.push(sequence);
      return;
    }
    let chosen = 0;
    if (this.waiters[0]!.skipped < MAX_SKIPS) {
      chosen = bestIndex(this.waiters.slice(0, MATCH_WINDOW), (waiter) => waiter.affinity?.(sequence) ?? 0);
      for (let index = 0; index < chosen; index++) this.waiters[index]!.skipped++;
    }
    this.waiters.splice(chosen, 1)[0]!.grant(sequence);
  }

  private lend(sequence: Sequence): Sequence {
    this.inUse++;
    this.peakInUse = Math.max(this.peakInUse, this.inUse);
    return sequence;
  }
}

/** Index of the highest score; the first one on ties. */
function bestIndex<T>(items: readonly T[], score: (item: T) => number): number {
  let best = 0;
  let bestScore = -Infinity;
  items.forEach((item, index) => {
    const value = score(item);
    if (value > bestScore) {
      best = index;
      bestScore = value;
    }
  });
  return best;
}
