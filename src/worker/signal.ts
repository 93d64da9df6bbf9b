/**
 * A wake-up flag: `wait` resolves on the next `notify` or after the timeout, whichever comes first.
 *
 * A `notify` that finds nobody waiting is kept for the next `wait`, which then returns at once. The loops
 * notify from outside while they are busy (results recorded during a sweep, a Batch started while a lane
 * is claiming); dropping those would leave the work until the next period (sweepMs, pollMs). With several
 * waiters a notify wakes those waiting and is not kept, so a waiter busy at that moment may still sleep
 * until its timeout: acceptable for the Worker's per-process `work` signal, where it only delays a claim.
 */
export class Signal {
  private waiters: (() => void)[] = [];
  private missed = false;

  notify(): void {
    if (this.waiters.length === 0) {
      this.missed = true;
      return;
    }
    const waiters = this.waiters;
    this.waiters = [];
    for (const wake of waiters) wake();
  }

  wait(timeoutMs: number): Promise<void> {
    if (this.missed) {
      this.missed = false;
      return Promise.resolve();
    }
    return new Promise((resolve) => {
      const done = (): void => {
        clearTimeout(timer);
        this.waiters = this.waiters.filter((waiter) => waiter !== done);
        resolve();
      };
      const timer = setTimeout(done, timeoutMs);
      this.waiters.push(done);
    });
  }
}
