/**
 * The result cache across Batches (migration 015; the rules are in the Store contract: startBatch,
 * completeItems, purgeResultCache). The PostgreSQL Store has the same statements in its own SQL.
 */
import type { Dialect } from "../../core/types.ts";
import type { CachedModel, ItemCompletion } from "../store.ts";
import type { CountDeltas } from "./counters.ts";
import type { SqliteDatabase } from "./database.ts";

/**
 * Finishes the Items of one Batch being started that match a cached result, one statement per cached Model.
 * Each walks the Batch's pending Items by primary key and looks each hash up by the cache's: O(Items), once.
 */
export function takeCachedResults(
  db: SqliteDatabase,
  batch: { id: string; tenant: string; dialect: Dialect },
  models: readonly CachedModel[],
  nowMs: number,
  counts: CountDeltas,
): void {
  const take = db.statement(
    `UPDATE items SET status = 'succeeded', status_code = c.status_code, body = c.body, error_code = NULL, error_message = NULL,
       request_id = c.request_id, input_tokens = 0, output_tokens = 0, finished_at_ms = @nowMs
     FROM result_cache c
     WHERE items.batch_id = @batchId AND items.status = 'pending' AND items.model = @model AND items.request_hash IS NOT NULL
       AND c.tenant = @tenant AND c.model = items.model AND c.request_hash = items.request_hash
       AND c.dialect = @dialect AND c.kind = items.kind AND c.created_at_ms >= @notBeforeMs`,
  );
  for (const { model, notBeforeMs } of models) {
    const { changes } = take.run({ nowMs, batchId: batch.id, model, tenant: batch.tenant, dialect: batch.dialect, notBeforeMs });
    counts.add(batch.id, "succeeded", changes);
    counts.add(batch.id, "reused", changes);
  }
}

/**
 * Keeps a just-recorded result (call in completeItems' transaction, for a succeeded completion that asked
 * for it and whose Item has a request hash). A newer result of the same request replaces the older one.
 */
export function cacheResult(db: SqliteDatabase, completion: ItemCompletion, requestHash: string, nowMs: number): void {
  const { result } = completion;
  db.statement(
    `INSERT INTO result_cache (tenant, dialect, model, kind, request_hash, status_code, body, request_id, input_tokens, output_tokens, created_at_ms)
     SELECT b.tenant, b.dialect, i.model, i.kind, @requestHash, @statusCode, @body, @requestId, @inputTokens, @outputTokens, @nowMs
     FROM items i JOIN batches b ON b.id = i.batch_id
     WHERE i.batch_id = @batchId AND i.idx = @index AND @body IS NOT NULL AND @statusCode IS NOT NULL
     ON CONFLICT (tenant, model, request_hash, dialect, kind) DO UPDATE SET
       status_code = excluded.status_code, body = excluded.body, request_id = excluded.request_id,
       input_tokens = excluded.input_tokens, output_tokens = excluded.output_tokens, created_at_ms = excluded.created_at_ms`,
  ).run({
    requestHash,
    statusCode: result.statusCode,
    body: result.body,
    requestId: result.requestId,
    inputTokens: result.usage.inputTokens,
    outputTokens: result.usage.outputTokens,
    nowMs,
    batchId: completion.batchId,
    index: completion.index,
  });
}

/** Deletes up to `limit` entries no Model may reuse any more (too old, or their Model's cache is off). */
export function purgeResultCache(db: SqliteDatabase, keep: readonly CachedModel[], limit: number): number {
  return db.immediate(
    () =>
      db
        .statement(
          `DELETE FROM result_cache WHERE rowid IN (
             SELECT c.rowid FROM result_cache c LEFT JOIN json_each(@keep) k ON json_extract(k.value, '$.model') = c.model
             WHERE k.value IS NULL OR c.created_at_ms < json_extract(k.value, '$.notBeforeMs')
             ORDER BY c.created_at_ms LIMIT @limit)`,
        )
        .run({ keep: JSON.stringify(keep), limit }).changes,
  );
}
