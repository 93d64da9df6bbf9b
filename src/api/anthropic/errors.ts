/**
 * The one mapper from errors to Anthropic's envelope (built by src/dialects/anthropic/errors.ts)
 * `{"type":"error","error":{"type","message"},"request_id"}`. The SDK picks its exception class from the
 * status (BadRequestError, NotFoundError, ...) and exposes `error.type` and `error.message`; the message leads
 * with the field path, as the service writes it (`requests.3.custom_id: ...`).
 */
import { AppError, type AppErrorCode } from "../../core/errors.ts";
import { EngineError } from "../../core/engine.ts";
import { BlobNotFoundError, BlobTooLargeError } from "../../store/blob-store.ts";
import { anthropicErrorBody, anthropicErrorType, isAnthropicEnvelope, type AnthropicErrorType } from "../../dialects/anthropic/errors.ts";
import { upstreamErrorHeaders, type ErrorReply } from "../shared/error-reply.ts";

const BY_CODE: Record<AppErrorCode, { status: number; type: AnthropicErrorType }> = {
  invalid_request: { status: 400, type: "invalid_request_error" },
  not_found: { status: 404, type: "not_found_error" },
  // A state that forbids the call (cancel an ended batch): the service answers these with a 400.
  conflict: { status: 400, type: "invalid_request_error" },
  already_exists: { status: 409, type: "conflict_error" },
  payload_too_large: { status: 413, type: "request_too_large" },
  unauthenticated: { status: 401, type: "authentication_error" },
  permission_denied: { status: 403, type: "permission_error" },
  quota_exceeded: { status: 429, type: "rate_limit_error" },
  unknown_model: { status: 404, type: "not_found_error" },
  unavailable: { status: 503, type: "api_error" },
  insufficient_storage: { status: 507, type: "api_error" },
  internal: { status: 500, type: "api_error" },
};

/** Maps anything thrown under the Anthropic prefix to a reply; unexpected errors become a generic 500. */
export function toAnthropicErrorReply(error: unknown, requestId: string): ErrorReply {
  const headers: Record<string, string> = { "request-id": requestId };
  const reply = (status: number, type: AnthropicErrorType, message: string, unexpected = false): ErrorReply => ({
    statusCode: status,
    // A 409 here is a state the client must change; the SDK would otherwise retry it.
    headers: status === 409 ? { ...headers, "x-should-retry": "false" } : headers,
    body: anthropicErrorBody(type, message, requestId),
    unexpected,
  });
  if (error instanceof AppError && error.code !== "internal") {
    const mapped = BY_CODE[error.code];
    const message = error.param && !error.message.startsWith(`${error.param}:`) && mapped.status === 400 ? `${error.param}: ${error.message}` : error.message;
    return reply(mapped.status, mapped.type, message);
  }
  if (error instanceof BlobTooLargeError) return reply(413, "request_too_large", error.message);
  if (error instanceof BlobNotFoundError) return reply(404, "not_found_error", "The stored results of this batch are no longer available.");
  if (error instanceof EngineError) {
    const mapped = engineErrorReply(error);
    return { ...mapped, headers: { ...headers, ...mapped.headers } };
  }
  const status = (error as { statusCode?: unknown } | null)?.statusCode;
  if (error instanceof Error && typeof status === "number" && status >= 400 && status < 500) {
    const code = (error as { code?: unknown }).code;
    let message = error.message;
    if (code === "FST_ERR_CTP_BODY_TOO_LARGE") message = "The request body is larger than the server accepts; split the batch into smaller ones.";
    if (code === "FST_ERR_CTP_INVALID_MEDIA_TYPE") message = "Unsupported Content-Type: send the request body as JSON (application/json).";
    return reply(status, anthropicErrorType(status), message);
  }
  return reply(500, "api_error", `Internal server error (request id ${requestId}); the detail is in the server log.`, true);
}

/**
 * A synchronous request that failed in its Engine. An upstream HTTP answer keeps its status; its body is
 * already Anthropic's envelope (native, or converted by the translation layer). Anything else becomes a
 * 502/504 in the envelope.
 */
export function engineErrorReply(error: EngineError): ErrorReply {
  const headers = upstreamErrorHeaders(error);
  const reply = (status: number, body: unknown): ErrorReply => ({ statusCode: status, headers, body, unexpected: false });
  if (error.statusCode !== null) {
    if (isAnthropicEnvelope(error.body)) return reply(error.statusCode, error.body);
    const message = typeof error.body === "string" && error.body !== "" ? error.body.slice(0, 2_000) : error.message;
    return reply(error.statusCode, anthropicErrorBody(anthropicErrorType(error.statusCode), message));
  }
  switch (error.kind) {
    case "timeout":
      return reply(504, anthropicErrorBody("timeout_error", `The model did not answer in time: ${error.message}`));
    case "unsupported":
      return reply(400, anthropicErrorBody("invalid_request_error", error.message));
    case "aborted":
      return reply(503, anthropicErrorBody("api_error", "The request was stopped before it finished (the server is shutting down)."));
    default:
      return reply(502, anthropicErrorBody("api_error", `The model backend failed: ${error.message}`));
  }
}
