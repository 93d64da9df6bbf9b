/**
 * When each Batch went in_progress, for pickup delay and time to result, looked up once per Batch (not per
 * Item: the hot path never waits on it and never queries the Store per Item). Items claimed before the
 * lookup answers are measured when it does. Bounded: the oldest entries are forgotten first.
 */
export type LoadStartTime = (batchId: string) => Promise<number | null>;

const MAX_ENTRIES = 10_000;

export class BatchStartTimes {
  private readonly known = new Map<string, number | null>();
  private readonly loading = new Map<string, Promise<void>>();

  constructor(private readonly load: LoadStartTime) {}

  /** Calls `use` with the Batch's in_progress time: now if known, else once looked up (never if unknown). */
  with(batchId: string, use: (startMs: number) => void): void {
    const known = this.known.get(batchId);
    if (known !== undefined) {
      if (known !== null) use(known);
      return;
    }
    let loading = this.loading.get(batchId);
    if (loading === undefined) {
      loading = this.load(batchId).then(
        (startMs) => this.remember(batchId, startMs),
        () => undefined, // a failed lookup measures nothing; the next claim of the Batch asks again
      );
      this.loading.set(batchId, loading);
      void loading.finally(() => this.loading.delete(batchId));
    }
    void loading.then(() => {
      const startMs = this.known.get(batchId);
      if (startMs !== undefined && startMs !== null) use(startMs);
    });
  }

  private remember(batchId: string, startMs: number | null): void {
    if (this.known.size >= MAX_ENTRIES) {
      const oldest = this.known.keys().next();
      if (!oldest.done) this.known.delete(oldest.value);
    }
    this.known.set(batchId, startMs);
  }
}
