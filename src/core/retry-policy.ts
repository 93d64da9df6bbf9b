/**
 * When to retry a failed Engine request, and how long to wait first. Pure: no timers, no clock; callers
 * pass `random` in tests.
 *
 * The rule:
 * - Which failures: the Engine decides (`EngineError.retryable`, set where the error is made). For HTTP
 *   upstreams the default is `isRetryableStatus` below, which matches the official OpenAI SDK: 408, 409,
 *   429 and every 5xx, plus connection failures and timeouts.
 * - How long, without a server hint: capped exponential backoff with *full* jitter,
 *   `random() * min(capMs, baseMs * 2^(attempt-1))`. Full jitter (rather than "base ± 10 %") spreads a
 *   burst of simultaneous failures across the whole window, so a lane of 64 requests that all got a 503 does
 *   not come back as one synchronized burst.
 * - With a server hint (`Retry-After` / `retry-after-ms`, parsed by the Engine into `retryAfterMs`): wait
 *   exactly that long plus a small jitter (up to 10 %, at most 1 s) — never less, since the server told us
 *   when it will accept work again, and never more than `maxRetryAfterMs`. A server that asks for longer
 *   than that (a daily quota, a maintenance window) gets no retry now: `retryDelayMs` returns `null` and the
 *   caller records the failure with the upstream's status and body. The Item's error then says 429, which is
 *   more useful to a user than a request that silently sits for an hour.
 */

export const RETRY_DEFAULTS = {
  /** First backoff window (before jitter). */
  baseMs: 500,
  /** Largest backoff window without a server hint. */
  capMs: 30_000,
  /** Longest server-requested wait spool honours; longer asks fail the request instead. */
  maxRetryAfterMs: 120_000,
} as const;

export interface RetryDelayInput {
  /** 1 for the first retry (the second try), 2 for the next, ... */
  attempt: number;
  /** The server's requested delay, already parsed; null/undefined when it gave none. */
  retryAfterMs?: number | null;
  baseMs?: number;
  capMs?: number;
  maxRetryAfterMs?: number;
  /** Uniform in [0, 1). */
  random?: () => number;
}

/** Milliseconds to wait before retry number `attempt`, or `null`: do not retry (the server asked too much). */
export function retryDelayMs(input: RetryDelayInput): number | null {
  const {
    attempt,
    retryAfterMs,
    baseMs = RETRY_DEFAULTS.baseMs,
    capMs = RETRY_DEFAULTS.capMs,
    maxRetryAfterMs = RETRY_DEFAULTS.maxRetryAfterMs,
    random = Math.random,
  } = input;
  if (retryAfterMs !== null && retryAfterMs !== undefined && Number.isFinite(retryAfterMs)) {
    const asked = Math.max(0, retryAfterMs);
    if (asked > maxRetryAfterMs) return null;
    const jitter = random() * Math.min(asked * 0.1, 1_000);
    return Math.min(maxRetryAfterMs, Math.round(asked + jitter));
  }
  // 2^(attempt-1) overflows to Infinity for absurd attempts; min() keeps it at the cap.
  const window = Math.min(capMs, baseMs * 2 ** Math.max(0, attempt - 1));
  return Math.floor(random() * window);
}

/** Statuses worth another try: timeout, conflict (often a lock), rate limit, and server errors. */
export function isRetryableStatus(status: number): boolean {
  return status === 408 || status === 409 || status === 429 || (status >= 500 && status <= 599);
}
