/**
 * Anthropic's error envelope `{"type":"error","error":{"type","message"},"request_id"}`: the one builder for the
 * API (src/api/anthropic/errors.ts), for errored batch results and for translation
 * (src/dialects/translate/error-bodies.ts). The SDK picks its exception class from the HTTP status and reads
 * `error.type` and `error.message`; `request_id` is informational.
 */
import { isObject, type Json } from "./wire.ts";

export type AnthropicErrorType =
  | "invalid_request_error"
  | "authentication_error"
  | "billing_error"
  | "permission_error"
  | "not_found_error"
  | "request_too_large"
  | "rate_limit_error"
  | "timeout_error"
  | "api_error"
  | "overloaded_error"
  | "conflict_error";

const TYPE_BY_STATUS: Record<number, AnthropicErrorType> = {
  400: "invalid_request_error",
  401: "authentication_error",
  402: "billing_error",
  403: "permission_error",
  404: "not_found_error",
  408: "timeout_error",
  409: "conflict_error",
  413: "request_too_large",
  429: "rate_limit_error",
  504: "timeout_error",
  529: "overloaded_error",
};

/** The envelope's `error.type` for an HTTP status, as Anthropic sends it. */
export function anthropicErrorType(status: number): AnthropicErrorType {
  return TYPE_BY_STATUS[status] ?? (status >= 500 ? "api_error" : "invalid_request_error");
}

export function anthropicErrorBody(type: AnthropicErrorType, message: string, requestId: string | null = null): Json {
  return { type: "error", error: { type, message }, request_id: requestId };
}

/** Whether `body` already is an Anthropic error envelope. */
export function isAnthropicEnvelope(body: unknown): boolean {
  return isObject(body) && body.type === "error" && isObject(body.error) && typeof body.error.message === "string";
}
