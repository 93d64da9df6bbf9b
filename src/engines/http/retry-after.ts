/** Server-requested retry delays, as the official OpenAI SDK reads them. */

export type HttpHeaders = Record<string, string | string[] | undefined>;

/** The first value of a (lower-case) header, or undefined. */
export function headerValue(headers: HttpHeaders, name: string): string | undefined {
  const value = headers[name];
  return Array.isArray(value) ? value[0] : value;
}

const SECONDS = /^\s*\d+(?:\.\d+)?\s*$/;

/**
 * Milliseconds the server asked us to wait: `retry-after-ms` (OpenAI's, milliseconds) first, then
 * `retry-after` as delta-seconds or an HTTP date (RFC 9110 §10.2.3). A date in the past means "now" (0).
 * Unparseable or negative values count as no hint (null), so the caller falls back to backoff.
 */
export function parseRetryAfter(headers: HttpHeaders, nowMs: number): number | null {
  const ms = headerValue(headers, "retry-after-ms");
  if (ms !== undefined && SECONDS.test(ms)) return Math.round(Number(ms));
  const value = headerValue(headers, "retry-after");
  if (value === undefined) return null;
  if (SECONDS.test(value)) return Math.round(Number(value) * 1000);
  const date = Date.parse(value);
  return Number.isNaN(date) ? null : Math.max(0, date - nowMs);
}
