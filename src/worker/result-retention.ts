/**
 * Retention of ended Batches' Items (config `retention.batchResults`, migration 020), a bounded step of each
 * Sweeper pass. Once a minute, ended Batches created longer than the retention ago (and ended at least a
 * day ago, or the retention if shorter) are archived: from then every reader treats their results as gone.
 * Their Items are deleted later, past a grace period, so a client that started reading results just before
 * the archive finishes reading them; and a bounded number per second, so deleting a 1M-Item Batch never
 * holds the Store (SQLite's one writer) for long.
 */
import type { Logger } from "pino";
import type { Retention } from "../config/retention.ts";
import type { Metrics } from "../core/metrics.ts";
import type { Store } from "../store/store.ts";

/** How often ended Batches are looked at for archiving: retention runs in days, a minute late is nothing. */
const ARCHIVE_LOOK_MS = 60_000;
const ARCHIVE_LIMIT = 100;
/**
 * Results are kept at least this long after the Batch ended (or the retention, if shorter): a Batch that ran
 * for most of a long completion window must not lose its results the minute it ends.
 */
export const MIN_KEPT_AFTER_END_MS = 86_400_000;
/** How long after its archive a Batch's Items are deleted: results being read then are read to the end. */
export const PURGE_GRACE_MS = 10 * 60_000;
/**
 * Items deleted per Store call (one transaction: a few milliseconds of SQLite's writer) and per second at
 * most: 20,000 a second outruns what spool can run in a second, so a backlog shrinks while work goes on.
 */
const PURGE_CHUNK = 2_000;
const PURGE_PER_SECOND = 20_000;

export class ResultRetention {
  private lastLookMs = -Infinity;
  private lastPurgeMs = -Infinity;
  /** The last purge deleted all it was allowed to: more may be waiting. */
  private behind = false;

  constructor(private readonly deps: { store: Store; logger: Logger; retention: Retention; metrics: Metrics }) {}

  async pass(nowMs: number): Promise<void> {
    const { store, logger, retention } = this.deps;
    let look = false;
    if (nowMs - this.lastLookMs >= ARCHIVE_LOOK_MS) {
      this.lastLookMs = nowMs;
      look = true;
      // With retention off, Batches archived under an earlier setting are still purged below.
      if (retention.batchResultsMs !== null) {
        const archived = await store.archiveBatches({
          createdBeforeMs: nowMs - retention.batchResultsMs,
          endedBeforeMs: nowMs - Math.min(retention.batchResultsMs, MIN_KEPT_AFTER_END_MS),
          nowMs,
          limit: ARCHIVE_LIMIT,
        });
        if (archived.length > 0) logger.info({ batches: archived.length }, "archived ended batches past their retention (retention.batchResults)");
        this.deps.metrics.retentionApplied(archived.length, 0);
        if (archived.length === ARCHIVE_LIMIT) this.lastLookMs = -Infinity;
      }
    }
    if (!(look || this.behind) || nowMs - this.lastPurgeMs < 1_000) return;
    this.lastPurgeMs = nowMs;
    let deleted = 0;
    let last = PURGE_CHUNK;
    while (deleted < PURGE_PER_SECOND && last === PURGE_CHUNK) {
      last = await store.purgeArchivedItems(nowMs - PURGE_GRACE_MS, PURGE_CHUNK);
      deleted += last;
    }
    this.behind = last === PURGE_CHUNK;
    if (deleted > 0) logger.info({ items: deleted }, "deleted the requests and results of archived batches");
    this.deps.metrics.retentionApplied(0, deleted);
  }
}
