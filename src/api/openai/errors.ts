/**
 * The one mapper from errors to the OpenAI error envelope (built by src/dialects/openai/errors.ts)
 * `{"error":{"message","type","param","code"}}`. The SDK builds its exception from this: the class from the
 * status, `err.message` from `error.message`, and `.code/.param/.type` copied as they are.
 */
import { AppError, type AppErrorCode } from "../../core/errors.ts";
import { BlobNotFoundError, BlobTooLargeError } from "../../store/blob-store.ts";
import { EngineError } from "../../core/engine.ts";
import { upstreamErrorHeaders, type ErrorReply } from "../shared/error-reply.ts";
import { isOpenAIEnvelope, openAIErrorBody, openAIErrorType as typeForStatus } from "../../dialects/openai/errors.ts";


const BY_CODE: Record<AppErrorCode, { status: number; type: string; code: string | null }> = {
  invalid_request: { status: 400, type: "invalid_request_error", code: "invalid_request" },
  not_found: { status: 404, type: "invalid_request_error", code: "not_found" },
  conflict: { status: 409, type: "invalid_request_error", code: "conflict" },
  already_exists: { status: 409, type: "invalid_request_error", code: "already_exists" },
  payload_too_large: { status: 413, type: "invalid_request_error", code: "file_too_large" },
  unauthenticated: { status: 401, type: "authentication_error", code: "invalid_api_key" },
  permission_denied: { status: 403, type: "invalid_request_error", code: "permission_denied" },
  // As OpenAI's own quota errors: 429, which the SDK raises as RateLimitError.
  quota_exceeded: { status: 429, type: "insufficient_quota", code: "quota_exceeded" },
  unknown_model: { status: 404, type: "invalid_request_error", code: "model_not_found" },
  unavailable: { status: 503, type: "server_error", code: "unavailable" },
  insufficient_storage: { status: 507, type: "server_error", code: "insufficient_storage" },
  internal: { status: 500, type: "server_error", code: "server_error" },
};


/** Fastify's own client errors (bad JSON, wrong content type, body too large) carry a 4xx statusCode. */
function fastifyClientError(error: unknown): { status: number; message: string; code: string | null } | null {
  if (!(error instanceof Error)) return null;
  const status = (error as { statusCode?: unknown }).statusCode;
  if (typeof status !== "number" || status < 400 || status >= 500) return null;
  const fastifyCode = (error as { code?: unknown }).code;
  if (fastifyCode === "FST_ERR_CTP_INVALID_MEDIA_TYPE") {
    return { status, message: "Unsupported Content-Type: send JSON (application/json), or multipart/form-data to /files.", code: "unsupported_media_type" };
  }
  if (fastifyCode === "FST_ERR_CTP_BODY_TOO_LARGE") {
    return { status, message: "The request body is larger than the server accepts.", code: "payload_too_large" };
  }
  return { status, message: error.message, code: typeof fastifyCode === "string" ? fastifyCode.toLowerCase() : null };
}

/**
 * Maps any error to a reply in the OpenAI envelope. `requestId` goes into the generic 500 message so a
 * user can quote it and an operator can find the logged detail.
 */
export function toOpenAIErrorReply(error: unknown, requestId: string): ErrorReply {
  const headers: Record<string, string> = {};
  if (error instanceof AppError && error.code !== "internal") {
    const mapped = BY_CODE[error.code];
    // A conflict is a state the client must change; retrying the same call cannot succeed.
    if (mapped.status === 409) headers["x-should-retry"] = "false";
    return { statusCode: mapped.status, headers, body: openAIErrorBody(error.message, mapped.type, error.param, error.reason ?? mapped.code), unexpected: false };
  }
  if (error instanceof BlobTooLargeError) {
    return { statusCode: 413, headers, body: openAIErrorBody(error.message, "invalid_request_error", "file", "file_too_large"), unexpected: false };
  }
  if (error instanceof BlobNotFoundError) {
    return { statusCode: 404, headers, body: openAIErrorBody("The file's contents are no longer stored.", "invalid_request_error", null, "not_found"), unexpected: false };
  }
  if (error instanceof EngineError) return engineErrorReply(error);
  const client = fastifyClientError(error);
  if (client) {
    return { statusCode: client.status, headers, body: openAIErrorBody(client.message, typeForStatus(client.status), null, client.code), unexpected: false };
  }
  const message = `The server had an error while processing your request (request id ${requestId}). The detail is in the server log.`;
  return { statusCode: 500, headers, body: openAIErrorBody(message, "server_error", null, "server_error"), unexpected: true };
}

/**
 * A synchronous request that failed in its Engine. An upstream HTTP answer is passed on with its status
 * and body (already an OpenAI envelope from an OpenAI-compatible server); anything else becomes a 502, or
 * 504 for a timeout, in spool's envelope.
 */
export function engineErrorReply(error: EngineError): ErrorReply {
  const headers = upstreamErrorHeaders(error);
  if (error.statusCode !== null) {
    const body = isOpenAIEnvelope(error.body) ? error.body : openAIErrorBody(upstreamMessage(error), typeForStatus(error.statusCode), null, null);
    return { statusCode: error.statusCode, headers, body, unexpected: false };
  }
  switch (error.kind) {
    case "timeout":
      return { statusCode: 504, headers, body: openAIErrorBody(`The model did not answer in time: ${error.message}`, "server_error", null, "timeout"), unexpected: false };
    case "unsupported":
      return { statusCode: 400, headers, body: openAIErrorBody(error.message, "invalid_request_error", null, "unsupported"), unexpected: false };
    case "aborted":
      return { statusCode: 503, headers, body: openAIErrorBody("The request was stopped before it finished (the server is shutting down).", "server_error", null, "unavailable"), unexpected: false };
    default:
      return { statusCode: 502, headers, body: openAIErrorBody(`The model backend failed: ${error.message}`, "server_error", null, "upstream_error"), unexpected: false };
  }
}

function upstreamMessage(error: EngineError): string {
  if (typeof error.body === "string" && error.body.length > 0) return error.body.slice(0, 2_000);
  return error.message;
}
