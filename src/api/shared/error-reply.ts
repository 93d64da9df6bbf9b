import type { EngineError } from "../../core/engine.ts";

/** What a dialect's error mapper produces: a complete reply in that dialect's error envelope. */
export interface ErrorReply {
  statusCode: number;
  headers: Record<string, string>;
  /** Sent as JSON. */
  body: unknown;
  /** A failure of spool itself: logged in full with the request id; the body says nothing internal. */
  unexpected: boolean;
}

/** Maps any thrown value to a reply. `requestId` is echoed in generic 500 messages. */
export type ErrorMapper = (error: unknown, requestId: string) => ErrorReply;

/**
 * Headers that pass an upstream's retry hint and request id on to a sync client: `retry-after-ms` (which the
 * openai and Anthropic SDKs read first), `retry-after` in whole seconds, and `x-upstream-request-id`.
 */
export function upstreamErrorHeaders(error: EngineError): Record<string, string> {
  const headers: Record<string, string> = {};
  if (error.retryAfterMs !== null) {
    headers["retry-after-ms"] = String(error.retryAfterMs);
    headers["retry-after"] = String(Math.ceil(error.retryAfterMs / 1000));
  }
  if (error.requestId) headers["x-upstream-request-id"] = error.requestId;
  return headers;
}
