/** The webhook outbox (src/store/webhook-outbox.ts) on SQLite. Deliveries are queued by migration 007's trigger. */
import type { WebhookAttemptOutcome, WebhookClaim, WebhookDelivery, WebhookDeliveryQuery } from "../webhook-outbox.ts";
import { attemptColumns, toWebhookDelivery, WEBHOOK_DELIVERY_COLUMNS, type WebhookDeliveryRow } from "../shared/webhook-rows.ts";
import type { SqliteDatabase } from "./database.ts";

export function syncWebhookEndpoints(db: SqliteDatabase, urls: readonly string[], nowMs: number): void {
  db.immediate(() => {
    db.statement("UPDATE webhook_endpoints SET active = 0, updated_at_ms = ? WHERE active = 1").run(nowMs);
    const upsert = db.statement(
      "INSERT INTO webhook_endpoints (url, active, updated_at_ms) VALUES (?, 1, ?) ON CONFLICT (url) DO UPDATE SET active = 1, updated_at_ms = excluded.updated_at_ms",
    );
    for (const url of new Set(urls)) upsert.run(url, nowMs);
  });
}

/** One statement: the due rows are picked and leased together, so two claimers never take the same one. */
export function claimWebhookDeliveries(db: SqliteDatabase, claim: WebhookClaim): WebhookDelivery[] {
  const rows = db
    .statement(
      `UPDATE webhook_deliveries SET lease_owner = @owner, lease_expires_at_ms = @leaseExpiresAtMs, attempts = attempts + 1
       WHERE seq IN (
         SELECT seq FROM webhook_deliveries INDEXED BY webhook_deliveries_due
         WHERE status = 'pending' AND next_attempt_at_ms <= @nowMs AND (lease_owner IS NULL OR lease_expires_at_ms <= @nowMs)
         ORDER BY next_attempt_at_ms, seq LIMIT @limit)
       RETURNING ${WEBHOOK_DELIVERY_COLUMNS}`,
    )
    .all({ owner: claim.owner, leaseExpiresAtMs: claim.nowMs + claim.leaseMs, nowMs: claim.nowMs, limit: claim.limit }) as WebhookDeliveryRow[];
  return rows.map(toWebhookDelivery).sort((a, b) => a.nextAttemptAtMs - b.nextAttemptAtMs || a.seq - b.seq);
}

export function recordWebhookAttempt(db: SqliteDatabase, id: string, owner: string, outcome: WebhookAttemptOutcome): boolean {
  const [status, retryAtMs, statusCode, error, attemptAtMs, deliveredAtMs] = attemptColumns(outcome);
  return (
    db
      .statement(
        `UPDATE webhook_deliveries SET status = ?, next_attempt_at_ms = coalesce(?, next_attempt_at_ms), last_status_code = ?, last_error = ?,
           last_attempt_at_ms = ?, delivered_at_ms = ?, lease_owner = NULL, lease_expires_at_ms = NULL
         WHERE id = ? AND lease_owner = ? AND status = 'pending'`,
      )
      .run(status, retryAtMs, statusCode, error, attemptAtMs, deliveredAtMs, id, owner).changes > 0
  );
}

export function listWebhookDeliveries(db: SqliteDatabase, query: WebhookDeliveryQuery): { deliveries: WebhookDelivery[]; hasMore: boolean } {
  const rows = db
    .statement(
      `SELECT ${WEBHOOK_DELIVERY_COLUMNS} FROM webhook_deliveries
       WHERE (@batchId IS NULL OR batch_id = @batchId) AND (@beforeSeq IS NULL OR seq < @beforeSeq)
       ORDER BY seq DESC LIMIT @limit`,
    )
    .all({ batchId: query.batchId ?? null, beforeSeq: query.beforeSeq ?? null, limit: query.limit + 1 }) as WebhookDeliveryRow[];
  return { deliveries: rows.slice(0, query.limit).map(toWebhookDelivery), hasMore: rows.length > query.limit };
}
