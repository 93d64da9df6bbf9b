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

export function fileAlreadyExists(fileId: string, cause: unknown): AppError {
  return new AppError("already_exists", `A file with id ${fileId} already exists.`, { cause });
}

export function batchAlreadyExists(batchId: string, cause: unknown): AppError {
  return new AppError("already_exists", `A batch with id ${batchId} already exists.`, { cause });
}
