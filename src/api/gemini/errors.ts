/**
 * The one mapper from errors to Google's error envelope (built by src/dialects/gemini/errors.ts)
 * `{"error":{"code":<http status>,"message","status":"INVALID_ARGUMENT","details":[...]}}`.
 *
 * The genai SDK throws `ApiError` whose `.message` is the whole body JSON-stringified, so `error.message`
 * is what users read: it names the field (and line) itself, and `details` repeats the field in a
 * `google.rpc.BadRequest` for REST clients that read fieldViolations.
 */
import { AppError, type AppErrorCode } from "../../core/errors.ts";
import { EngineError } from "../../core/engine.ts";
import { BlobNotFoundError, BlobTooLargeError } from "../../store/blob-store.ts";
import type { ErrorReply } from "../shared/error-reply.ts";
import { isObject, type Json } from "../../dialects/gemini/wire.ts";
import { badRequestDetail, googleErrorBody, isGoogleEnvelope, type FieldViolation, type StatusName } from "../../dialects/gemini/errors.ts";

const ERROR_INFO_TYPE = "type.googleapis.com/google.rpc.ErrorInfo";

/** AppError details understood by this mapper: several field violations at once. */
export interface GeminiErrorDetails {
  fieldViolations: FieldViolation[];
}

/** An INVALID_ARGUMENT AppError naming `fieldPath`; `violations` lists several problems at once. */
export function invalidArgument(message: string, fieldPath: string | null, violations?: FieldViolation[]): AppError {
  const details: GeminiErrorDetails | undefined = violations ? { fieldViolations: violations } : undefined;
  return new AppError("invalid_request", message, { param: fieldPath, details });
}

const BY_CODE: Record<AppErrorCode, { http: number; status: StatusName }> = {
  invalid_request: { http: 400, status: "INVALID_ARGUMENT" },
  not_found: { http: 404, status: "NOT_FOUND" },
  // A state that forbids the call (cancel a finished batch): Google answers 400 FAILED_PRECONDITION.
  conflict: { http: 400, status: "FAILED_PRECONDITION" },
  already_exists: { http: 409, status: "ALREADY_EXISTS" },
  payload_too_large: { http: 413, status: "INVALID_ARGUMENT" },
  unauthenticated: { http: 401, status: "UNAUTHENTICATED" },
  permission_denied: { http: 403, status: "PERMISSION_DENIED" },
  quota_exceeded: { http: 429, status: "RESOURCE_EXHAUSTED" },
  unknown_model: { http: 404, status: "NOT_FOUND" },
  unavailable: { http: 503, status: "UNAVAILABLE" },
  // google.rpc.Code documents RESOURCE_EXHAUSTED as "perhaps the entire file system is out of space";
  // UNAVAILABLE would invite an immediate retry that cannot succeed until an operator frees space.
  insufficient_storage: { http: 507, status: "RESOURCE_EXHAUSTED" },
  internal: { http: 500, status: "INTERNAL" },
};

function violationsOf(error: AppError): FieldViolation[] {
  const details = error.details;
  if (isObject(details) && Array.isArray(details.fieldViolations)) return details.fieldViolations as FieldViolation[];
  return error.param ? [{ field: error.param, description: error.message }] : [];
}

function appErrorReply(error: AppError): ErrorReply {
  const mapped = BY_CODE[error.code];
  const details: Json[] = [];
  const violations = violationsOf(error);
  if (violations.length > 0 && (mapped.http === 400 || mapped.http === 413)) details.push(badRequestDetail(violations));
  if (error.code === "unauthenticated") {
    details.push({ "@type": ERROR_INFO_TYPE, reason: "API_KEY_INVALID", domain: "googleapis.com", metadata: { service: "generativelanguage.googleapis.com" } });
  }
  return { statusCode: mapped.http, headers: {}, body: googleErrorBody(mapped.http, error.message, { status: mapped.status, details }), unexpected: false };
}

/** Fastify's own client errors (bad JSON, unsupported media type, body too large) carry a 4xx statusCode. */
function fastifyClientError(error: unknown): ErrorReply | null {
  if (!(error instanceof Error)) return null;
  const status = (error as { statusCode?: unknown }).statusCode;
  if (typeof status !== "number" || status < 400 || status >= 500) return null;
  const code = (error as { code?: unknown }).code;
  let message = error.message;
  if (code === "FST_ERR_CTP_BODY_TOO_LARGE") message = "The request body is larger than the server accepts; upload large inputs through the Files API.";
  if (code === "FST_ERR_CTP_INVALID_MEDIA_TYPE") message = "Unsupported Content-Type: send the request body as JSON (application/json).";
  return { statusCode: status, headers: {}, body: googleErrorBody(status, message), unexpected: false };
}

/** Maps anything thrown under a Gemini prefix to a reply; unexpected errors become a generic 500. */
export function toGeminiErrorReply(error: unknown, requestId: string): ErrorReply {
  if (error instanceof AppError && error.code !== "internal") return appErrorReply(error);
  if (error instanceof BlobTooLargeError) return appErrorReply(new AppError("payload_too_large", error.message));
  if (error instanceof BlobNotFoundError) return appErrorReply(new AppError("not_found", "The file's contents are no longer stored."));
  if (error instanceof EngineError) return engineErrorReply(error);
  const client = fastifyClientError(error);
  if (client) return client;
  const message = `Internal error encountered (request id ${requestId}); the detail is in the server log.`;
  return { statusCode: 500, headers: {}, body: googleErrorBody(500, message), unexpected: true };
}

/**
 * A synchronous request that failed in its Engine. An upstream HTTP answer keeps its status; its body is
 * already in Google's envelope (the translation layer converts other dialects' bodies). Anything else
 * becomes 502/504 in the envelope.
 */
export function engineErrorReply(error: EngineError): ErrorReply {
  const headers: Record<string, string> = {};
  if (error.retryAfterMs !== null) headers["retry-after"] = String(Math.ceil(error.retryAfterMs / 1000));
  if (error.requestId) headers["x-upstream-request-id"] = error.requestId;
  if (error.statusCode !== null) {
    const body = isGoogleEnvelope(error.body) ? error.body : googleErrorBody(error.statusCode, upstreamMessage(error));
    return { statusCode: error.statusCode, headers, body, unexpected: false };
  }
  switch (error.kind) {
    case "timeout":
      return { statusCode: 504, headers, body: googleErrorBody(504, `The model did not answer in time: ${error.message}`), unexpected: false };
    case "unsupported":
      return { statusCode: 400, headers, body: googleErrorBody(400, error.message), unexpected: false };
    case "aborted":
      return { statusCode: 503, headers, body: googleErrorBody(503, "The request was stopped before it finished (the server is shutting down)."), unexpected: false };
    default:
      return { statusCode: 502, headers, body: googleErrorBody(502, `The model backend failed: ${error.message}`), unexpected: false };
  }
}

function upstreamMessage(error: EngineError): string {
  if (typeof error.body === "string" && error.body.length > 0) return error.body.slice(0, 2_000);
  const inner = isObject(error.body) ? error.body.error : undefined;
  if (isObject(inner) && typeof inner.message === "string") return inner.message;
  return error.message;
}
