/**
 * The dashboard's JSON error envelope, `{"error": {"code", "message", "param", "requestId"}}`, also used by
 * `/metrics` and by `spool watch` / `spool batches` to print what went wrong.
 */
import { AppError, type AppErrorCode } from "../../core/errors.ts";
import type { ErrorReply } from "../shared/error-reply.ts";

const STATUS: Record<AppErrorCode, number> = {
  invalid_request: 400,
  not_found: 404,
  conflict: 409,
  already_exists: 409,
  payload_too_large: 413,
  unauthenticated: 401,
  permission_denied: 403,
  quota_exceeded: 429,
  unknown_model: 404,
  unavailable: 503,
  insufficient_storage: 507,
  internal: 500,
};

export function dashboardErrorBody(code: string, message: string, param: string | null, requestId: string): { error: { code: string; message: string; param: string | null; requestId: string } } {
  return { error: { code, message, param, requestId } };
}

export function toDashboardErrorReply(error: unknown, requestId: string): ErrorReply {
  if (error instanceof AppError && error.code !== "internal") {
    return { statusCode: STATUS[error.code], headers: {}, body: dashboardErrorBody(error.code, error.message, error.param, requestId), unexpected: false };
  }
  // Fastify's own client errors (malformed JSON, an unsupported content type) carry a 4xx status.
  const status = (error as { statusCode?: unknown } | null)?.statusCode;
  if (error instanceof Error && typeof status === "number" && status >= 400 && status < 500) {
    return { statusCode: status, headers: {}, body: dashboardErrorBody("invalid_request", error.message, null, requestId), unexpected: false };
  }
  const message = `The server failed to answer (request ${requestId}); the server log has the details.`;
  return { statusCode: 500, headers: {}, body: dashboardErrorBody("internal", message, null, requestId), unexpected: true };
}
