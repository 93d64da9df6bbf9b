/** A wake-up flag: `wait` resolves on the next `notify` or after the timeout, whichever comes first. */
export class Signal {
  private waiters: (() => void)[] = [];

  notify(): void {
    const waiters = this.waiters;
    this.waiters = [];
    for (const wake of waiters) wake();
  }

  wait(timeoutMs: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(done, timeoutMs);
      const self = this;
      function done(): void {
        clearTimeout(timer);
        self.waiters = self.waiters.filter((waiter) => waiter !== done);
        resolve();
      }
      this.waiters.push(done);
    });
  }
}
