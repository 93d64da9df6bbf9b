/**
 * SQL fragments about a Batch's status that both stores' statements share: which statuses are live and
 * which ended, and what a statement that ends a Batch also sets.
 */
/** Batch statuses that count as "in progress" for quotas: every status before an end. */
export const LIVE_BATCH_STATUSES = "('validating', 'in_progress', 'finalizing', 'cancelling')";
/** The rest: a Batch that has ended (what retention archives, migration 020). */
export const ENDED_BATCH_STATUSES = "('completed', 'failed', 'expired', 'cancelled')";
/**
 * The assignment a statement that ends a Batch makes: a Batch deleted before it ended is archived as it ends
 * (its Items are purged after the grace), as one deleted after its end is at once (deleteBatch), not when
 * retention would reach it. `nowMs` is the statement's parameter for the time.
 */
export const archivedIfDeleted = (nowMs: string): string =>
  `archived_at_ms = CASE WHEN deleted_at_ms IS NULL THEN archived_at_ms ELSE COALESCE(archived_at_ms, ${nowMs}) END`;
