/** Rows of webhook_deliveries (migration 007; same columns in both stores) as WebhookDelivery objects. */
import type { WebhookAttemptOutcome, WebhookDelivery, WebhookDeliveryStatus, WebhookEvent } from "../webhook-outbox.ts";

export interface WebhookDeliveryRow {
  seq: number;
  id: string;
  batch_id: string;
  event: WebhookEvent;
  endpoint_url: string;
  status: WebhookDeliveryStatus;
  attempts: number;
  next_attempt_at_ms: number;
  last_status_code: number | null;
  last_error: string | null;
  last_attempt_at_ms: number | null;
  created_at_ms: number;
  delivered_at_ms: number | null;
}

/** The columns every read selects (no Lease columns: those never leave the Store). */
export const WEBHOOK_DELIVERY_COLUMNS =
  "seq, id, batch_id, event, endpoint_url, status, attempts, next_attempt_at_ms, last_status_code, last_error, last_attempt_at_ms, created_at_ms, delivered_at_ms";

export function toWebhookDelivery(row: WebhookDeliveryRow): WebhookDelivery {
  return {
    id: row.id,
    seq: row.seq,
    batchId: row.batch_id,
    event: row.event,
    endpointUrl: row.endpoint_url,
    status: row.status,
    attempts: row.attempts,
    nextAttemptAtMs: row.next_attempt_at_ms,
    lastStatusCode: row.last_status_code,
    lastError: row.last_error,
    lastAttemptAtMs: row.last_attempt_at_ms,
    createdAtMs: row.created_at_ms,
    deliveredAtMs: row.delivered_at_ms,
  };
}

/** The columns an attempt's outcome sets, in bind order: status, next attempt, status code, error, attempt time, delivered time. */
export function attemptColumns(outcome: WebhookAttemptOutcome): [WebhookDeliveryStatus, number | null, number | null, string | null, number, number | null] {
  if (outcome.delivered) return ["delivered", null, outcome.statusCode, null, outcome.nowMs, outcome.nowMs];
  return [outcome.retryAtMs === null ? "failed" : "pending", outcome.retryAtMs, outcome.statusCode, outcome.error, outcome.nowMs, null];
}
