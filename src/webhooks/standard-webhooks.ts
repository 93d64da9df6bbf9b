/**
 * Signing per the Standard Webhooks specification (standardwebhooks.com), which OpenAI's webhooks use and
 * `openai.webhooks.unwrap()` verifies: the secret is `whsec_` + base64 key bytes; the signature is
 * `v1,` + base64(HMAC-SHA256(key, "<webhook-id>.<webhook-timestamp>.<body>")); the timestamp is the
 * attempt's time in epoch seconds, so a retry hours later still passes a receiver's replay window (OpenAI's
 * SDK allows 5 minutes), while the id stays the same on every attempt for receivers to deduplicate.
 */
import { createHmac } from "node:crypto";

export interface SignedHeaders {
  "webhook-id": string;
  "webhook-timestamp": string;
  "webhook-signature": string;
}

/** The key bytes of a `whsec_...` secret (the config validated its form). */
export function webhookKey(secret: string): Buffer {
  return Buffer.from(secret.startsWith("whsec_") ? secret.slice("whsec_".length) : secret, "base64");
}

export function signWebhook(params: { id: string; timestampSeconds: number; body: string; secret: string }): SignedHeaders {
  const timestamp = String(Math.floor(params.timestampSeconds));
  const signature = createHmac("sha256", webhookKey(params.secret)).update(`${params.id}.${timestamp}.${params.body}`).digest("base64");
  return { "webhook-id": params.id, "webhook-timestamp": timestamp, "webhook-signature": `v1,${signature}` };
}
