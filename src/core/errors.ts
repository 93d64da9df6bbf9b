/**
 * One error type for failures the system reports to callers. Each dialect maps `code` to its own envelope
 * (src/api/<dialect>/errors.ts); nothing else turns errors into HTTP responses.
 *
 * A failed request inside a Batch is data (an ItemResult), not an AppError.
 */
export type AppErrorCode =
  | "invalid_request" // the client sent something malformed; `param` names the field
  | "not_found"
  | "conflict" // the state forbids the operation (e.g. cancelling a completed Batch)
  | "already_exists"
  | "payload_too_large"
  | "unauthenticated"
  | "permission_denied" // a valid key whose role does not allow the operation (a member on the admin API)
  | "quota_exceeded" // a tenant's quota or rate limit (src/core/tenancy.ts); the message names the limit
  | "unknown_model"
  | "unavailable" // a dependency is down or the process is shutting down
  | "insufficient_storage" // the disk holding the data is full: nothing was saved
  | "internal";

export class AppError extends Error {
  readonly code: AppErrorCode;
  /** Field path the error is about, e.g. `input_file_id` or `batch.inputConfig.fileName`. */
  readonly param: string | null;
  /** Extra structured detail for the envelope (e.g. every bad line). */
  readonly details: unknown;
  /**
   * A finer machine-readable reason than `code` ("invalid_type", "invalid_value"), for dialects whose
   * envelopes carry one (OpenAI's `error.code`); null to use the dialect's default for `code`.
   */
  readonly reason: string | null;

  constructor(code: AppErrorCode, message: string, options: { param?: string | null; details?: unknown; reason?: string | null; cause?: unknown } = {}) {
    super(message, { cause: options.cause });
    this.name = "AppError";
    this.code = code;
    this.param = options.param ?? null;
    this.details = options.details;
    this.reason = options.reason ?? null;
  }
}

export function isAppError(error: unknown): error is AppError {
  return error instanceof AppError;
}

/**
 * The database is unreachable or the disk is full. The Stores log these once per failure (or once per
 * outage), so background loops that meet them back off quietly instead of logging a stack per retry.
 */
export function isStorageFailure(error: unknown): boolean {
  return error instanceof AppError && (error.code === "unavailable" || error.code === "insufficient_storage");
}
