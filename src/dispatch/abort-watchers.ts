/**
 * One "abort" listener per signal, however many waiters watch it. A Worker's queued Batch requests all
 * share one signal (its stop signal), and EventTarget's addEventListener and removeEventListener each walk
 * the signal's whole listener list: with a hundred requests waiting for a slot, every wait and every grant
 * paid for that walk (5% of spool's CPU with 1,000 small Batches, issue 11). Here a waiter joins a Set; the
 * signal keeps one listener, removed when its last waiter leaves, so per-request signals (sync requests)
 * are not kept alive by the map.
 */
interface Watched {
  /** One entry per watch (an object, so one callback watched twice is two waiters). */
  waiters: Set<{ onAbort: () => void }>;
  fire: () => void;
}

export class AbortWatchers {
  private readonly bySignal = new Map<AbortSignal, Watched>();

  /** Calls `onAbort` once if `signal` aborts before the returned `unwatch` is called. */
  watch(signal: AbortSignal, onAbort: () => void): () => void {
    let watched = this.bySignal.get(signal);
    if (watched === undefined) {
      const created: Watched = {
        waiters: new Set(),
        fire: () => {
          this.bySignal.delete(signal);
          for (const waiter of created.waiters) waiter.onAbort();
          created.waiters.clear();
        },
      };
      signal.addEventListener("abort", created.fire, { once: true });
      this.bySignal.set(signal, created);
      watched = created;
    }
    const entry = watched;
    // Not a closure per watch: one object is all a waiter needs.
    const waiter = { onAbort };
    entry.waiters.add(waiter);
    return () => {
      if (!entry.waiters.delete(waiter) || entry.waiters.size > 0) return;
      if (this.bySignal.get(signal) === entry) this.bySignal.delete(signal);
      signal.removeEventListener("abort", entry.fire);
    };
  }

  /** Signals with a listener now (tests: none may be left once every waiter left). */
  get watchedSignals(): number {
    return this.bySignal.size;
  }
}
