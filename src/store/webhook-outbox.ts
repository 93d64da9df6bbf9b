/**
 * The webhook outbox, part of the Store contract (store.ts): deliveries of `batch.*` events to the
 * configured endpoints, durable and retried, and kept as the delivery log.
 *
 * How deliveries come to exist: the Store itself queues one per active endpoint when a Batch reaches a
 * final status, in the same transaction as the status change (a trigger in migration 007). No caller
 * enqueues; so no path that ends a Batch (finalization, failed validation, paths added later) can forget
 * to, and a crash between the change and the queueing cannot lose an event.
 *
 * Delivery follows the Items' rules: claimed under a Lease (attempts counted at claim), the outcome
 * recorded only by the Lease's holder, an expired Lease returning the delivery to the pool, so a process
 * that dies mid-send loses nothing and the event is sent at least once (receivers dedupe on its id).
 *
 * Deliberately left out: secrets (they stay in the config, looked up by URL when sending) and the body (it
 * is rendered at send time from the Batch, in its dialect's event shape).
 */
import type { BatchStatus } from "../core/types.ts";

/** The final status a Batch reached: what the event reports. */
export type WebhookEvent = Extract<BatchStatus, "completed" | "failed" | "expired" | "cancelled">;

export type WebhookDeliveryStatus = "pending" | "delivered" | "failed";

export interface WebhookDelivery {
  /** `evt_...`: the event's id and the Standard Webhooks message id (`webhook-id`), the same on every attempt. */
  id: string;
  /** Monotonic; orders the delivery log. */
  seq: number;
  batchId: string;
  event: WebhookEvent;
  endpointUrl: string;
  status: WebhookDeliveryStatus;
  /** Attempts made (counted at claim). */
  attempts: number;
  nextAttemptAtMs: number;
  lastStatusCode: number | null;
  lastError: string | null;
  lastAttemptAtMs: number | null;
  /** When the Batch reached its final status: the event's time. */
  createdAtMs: number;
  deliveredAtMs: number | null;
}

export interface WebhookClaim {
  owner: string;
  nowMs: number;
  leaseMs: number;
  limit: number;
}

/** What one attempt came to. `retryAtMs` null on a failure: the schedule is spent, the delivery fails. */
export type WebhookAttemptOutcome =
  | { delivered: true; statusCode: number; nowMs: number }
  | { delivered: false; statusCode: number | null; error: string; retryAtMs: number | null; nowMs: number };

export interface WebhookDeliveryQuery {
  /** Only this Batch's deliveries. */
  batchId?: string;
  /** Cursor: deliveries older than this seq (the log is newest first). */
  beforeSeq?: number;
  limit: number;
}

export interface WebhookOutbox {
  /**
   * Makes `urls` the active endpoints (config `webhooks`); endpoints no longer listed stop getting new
   * events, while their queued deliveries stay (the sender fails them for want of a secret).
   */
  syncWebhookEndpoints(urls: readonly string[], nowMs: number): Promise<void>;
  /** Takes up to `limit` due pending deliveries whose Lease is free, oldest first; counts the attempt. */
  claimWebhookDeliveries(claim: WebhookClaim): Promise<WebhookDelivery[]>;
  /** Records an attempt's outcome; ignored (false) unless `owner` still holds the delivery's Lease. */
  recordWebhookAttempt(id: string, owner: string, outcome: WebhookAttemptOutcome): Promise<boolean>;
  /** The delivery log, newest first, one page plus whether more follow. */
  listWebhookDeliveries(query: WebhookDeliveryQuery): Promise<{ deliveries: WebhookDelivery[]; hasMore: boolean }>;
}

export const WEBHOOK_DELIVERY_STATUSES: readonly WebhookDeliveryStatus[] = ["pending", "delivered", "failed"];
