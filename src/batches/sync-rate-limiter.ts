/**
 * Sync requests per minute, per tenant, in this process: a sliding window over the last minute's request
 * times (at most `limit` kept per tenant). Per process rather than shared through the Store: the sync path
 * must not pay a database write per request, and a deployment of N processes behind a balancer admits about
 * N times the limit — documented with the quota.
 */
const WINDOW_MS = 60_000;

export class SyncRateLimiter {
  private readonly times = new Map<string, number[]>();

  /** Records a request at `nowMs` and returns 0, or returns how long until one would be admitted. */
  take(tenant: string, limit: number, nowMs: number): number {
    let times = this.times.get(tenant);
    if (times === undefined) {
      times = [];
      this.times.set(tenant, times);
    }
    while (times.length > 0 && (times[0] as number) <= nowMs - WINDOW_MS) times.shift();
    if (times.length >= limit) return (times[0] as number) + WINDOW_MS - nowMs;
    times.push(nowMs);
    return 0;
  }
}
