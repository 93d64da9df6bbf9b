/**
 * The webhook outbox (src/store/webhook-outbox.ts) on PostgreSQL. Deliveries are queued by migration 007's
 * trigger. The claim skips rows another process is claiming (FOR UPDATE SKIP LOCKED, as the Item claim).
 */
import type { WebhookAttemptOutcome, WebhookClaim, WebhookDelivery, WebhookDeliveryQuery } from "../webhook-outbox.ts";
import { attemptColumns, toWebhookDelivery, WEBHOOK_DELIVERY_COLUMNS, type WebhookDeliveryRow } from "../shared/webhook-rows.ts";
import type { PostgresDatabase } from "./database.ts";

export async function syncWebhookEndpoints(db: PostgresDatabase, urls: readonly string[], nowMs: number): Promise<void> {
  await db.transaction(async (client) => {
    await client.query("UPDATE webhook_endpoints SET active = false, updated_at_ms = $1 WHERE active", [nowMs]);
    await client.query(
      `INSERT INTO webhook_endpoints (url, active, updated_at_ms) SELECT url, true, $2 FROM unnest($1::text[]) AS url
       ON CONFLICT (url) DO UPDATE SET active = true, updated_at_ms = excluded.updated_at_ms`,
      [[...new Set(urls)], nowMs],
    );
  });
}

export async function claimWebhookDeliveries(db: PostgresDatabase, claim: WebhookClaim): Promise<WebhookDelivery[]> {
  const { rows } = await db.query<WebhookDeliveryRow>(
    `UPDATE webhook_deliveries SET lease_owner = $1, lease_expires_at_ms = $2, attempts = attempts + 1
     WHERE seq IN (
       SELECT seq FROM webhook_deliveries
       WHERE status = 'pending' AND next_attempt_at_ms <= $3 AND (lease_owner IS NULL OR lease_expires_at_ms <= $3)
       ORDER BY next_attempt_at_ms, seq LIMIT $4
       FOR UPDATE SKIP LOCKED)
     RETURNING ${WEBHOOK_DELIVERY_COLUMNS}`,
    [claim.owner, claim.nowMs + claim.leaseMs, claim.nowMs, claim.limit],
  );
  return rows.map(toWebhookDelivery).sort((a, b) => a.nextAttemptAtMs - b.nextAttemptAtMs || a.seq - b.seq);
}

export async function recordWebhookAttempt(db: PostgresDatabase, id: string, owner: string, outcome: WebhookAttemptOutcome): Promise<boolean> {
  const [status, retryAtMs, statusCode, error, attemptAtMs, deliveredAtMs] = attemptColumns(outcome);
  const { rowCount } = await db.query(
    `UPDATE webhook_deliveries SET status = $1, next_attempt_at_ms = coalesce($2, next_attempt_at_ms), last_status_code = $3, last_error = $4,
       last_attempt_at_ms = $5, delivered_at_ms = $6, lease_owner = NULL, lease_expires_at_ms = NULL
     WHERE id = $7 AND lease_owner = $8 AND status = 'pending'`,
    [status, retryAtMs, statusCode, error, attemptAtMs, deliveredAtMs, id, owner],
  );
  return (rowCount ?? 0) > 0;
}

export async function listWebhookDeliveries(db: PostgresDatabase, query: WebhookDeliveryQuery): Promise<{ deliveries: WebhookDelivery[]; hasMore: boolean }> {
  const { rows } = await db.query<WebhookDeliveryRow>(
    `SELECT ${WEBHOOK_DELIVERY_COLUMNS} FROM webhook_deliveries
     WHERE ($1::text IS NULL OR batch_id = $1) AND ($2::bigint IS NULL OR seq < $2)
     ORDER BY seq DESC LIMIT $3`,
    [query.batchId ?? null, query.beforeSeq ?? null, query.limit + 1],
  );
  return { deliveries: rows.slice(0, query.limit).map(toWebhookDelivery), hasMore: rows.length > query.limit };
}
