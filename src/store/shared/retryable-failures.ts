/**
 * Which failed Items `retryFailedItems` sends back to run (issue 17). By default only failures a new try can
 * fix: rate limits (429), timeouts (408, spool's own `request_timeout`), the upstream's own errors (5xx),
 * an unreachable upstream, and requests stopped by a cancel or an expiry before they finished. A 400 such as
 * `context_length_exceeded` would fail again, so it is retried only when the caller asks for all failures.
 * Followers of a duplicate carry their leader's result, so they are chosen by the same test.
 * The same SQL for SQLite and PostgreSQL (plain comparisons on the items table).
 */
const RETRYABLE_SQL = `(status_code IN (408, 429) OR status_code >= 500
  OR error_code IN ('request_timeout', 'upstream_unavailable', 'batch_cancelled', 'batch_expired'))`;

/** Extra WHERE condition on failed Items: none with `all`, else only the failures that can succeed. */
export function retryableFailureSql(options: { all?: boolean }): string {
  return options.all === true ? "TRUE" : RETRYABLE_SQL;
}
