/**
 * OpenAI's batch webhook events (`batch.completed`, `batch.failed`, `batch.expired`, `batch.cancelled`):
 * `{"id": "evt_...", "object": "event", "type": "batch.completed", "created_at": <seconds>, "data": {"id": <batch id>}}`,
 * the shape `openai.webhooks.unwrap()` returns. Batches of every dialect fire these; `data.id` is the id
 * the Batch's own clients know it by (a Gemini Batch's `batches/...` name).
 */

/** What an event says, before it is shaped. */
export interface WebhookEventBody {
  /** `evt_...`, the same on every delivery attempt. */
  id: string;
  /** The final status the Batch reached. */
  status: "completed" | "failed" | "expired" | "cancelled";
  /** When it reached it. */
  createdAtMs: number;
  /** The Batch's id as its clients know it. */
  batchId: string;
}

export function openAIWebhookEvent(event: WebhookEventBody): string {
  return JSON.stringify({
    id: event.id,
    object: "event",
    type: `batch.${event.status}`,
    created_at: Math.floor(event.createdAtMs / 1000),
    data: { id: event.batchId },
  });
}
