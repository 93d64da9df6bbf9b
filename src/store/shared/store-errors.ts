/**
 * The errors the Store reports to callers, with their messages in one place so every backend says the same
 * thing (the conformance suite checks the codes and the wording).
 */
import { AppError } from "../../core/errors.ts";
import type { BatchStatus } from "../../core/types.ts";

export function batchNotFound(batchId: string): AppError {
  return new AppError("not_found", `No batch found with id ${batchId}.`, { param: "batch_id" });
}

export function batchNotCancellable(batchId: string, status: BatchStatus): AppError {
  return new AppError("conflict", `Batch ${batchId} cannot be cancelled: it is already ${status}.`);
}

export function batchNotRetryable(batchId: string, reason: string): AppError {
  return new AppError("conflict", `Batch ${batchId} cannot retry its failed requests: ${reason}.`);
}

/** A Batch archived by retention (migration 020) has no Items left to retry. */
export function batchArchived(batchId: string, archivedAtMs: number): AppError {
  return batchNotRetryable(batchId, `its requests and results were deleted on ${new Date(archivedAtMs).toISOString()}, when its retention period (retention.batchResults) ran out`);
}

export function fileAlreadyExists(fileId: string, cause: unknown): AppError {
  return new AppError("already_exists", `A file with id ${fileId} already exists.`, { cause });
}

export function batchAlreadyExists(batchId: string, cause: unknown): AppError {
  return new AppError("already_exists", `A batch with id ${batchId} already exists.`, { cause });
}

/**
 * The disk holding spool's data is full, so the write was rolled back (SQLite) or never made visible (a
 * blob): nothing was saved. Which file or database it was goes to the log, not to the client.
 */
export function insufficientStorage(cause: unknown): AppError {
  return new AppError("insufficient_storage", "Insufficient storage: the server's disk is full, so nothing was saved. Try again once space has been freed.", { cause });
}

/**
 * The database cannot be reached (refused, reset, timed out, shutting down). Whether a write that was in
 * flight when the connection dropped was committed is unknown, so the message promises nothing about it.
 */
export function databaseUnavailable(cause: unknown): AppError {
  return new AppError("unavailable", "The database is unreachable at the moment. Try again shortly.", { cause });
}
