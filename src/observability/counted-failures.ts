/**
 * Counts the failures of the Store and the BlobStore for `spool_store_errors_total` and
 * `spool_blob_errors_total`, by wrapping them (composition root) rather than touching every call site.
 *
 * Counted: storage failures (the database unreachable, a full disk) and unexpected errors. Not counted:
 * answers about the caller's request (not_found, conflict, already_exists, a missing or oversized blob), which are
 * normal outcomes, not faults of the storage.
 */
import { AppError } from "../core/errors.ts";
import { BlobNotFoundError, BlobTooLargeError } from "../store/blob-store.ts";

export type FailureCounter = (code: string) => void;

/** The label for a failure worth counting, or null for an answer about the request. */
export function storageFailureCode(error: unknown): string | null {
  if (error instanceof AppError) return error.code === "unavailable" || error.code === "insufficient_storage" || error.code === "internal" ? error.code : null;
  if (error instanceof BlobNotFoundError || error instanceof BlobTooLargeError) return null;
  return "unexpected";
}

/**
 * `target` with every method's rejections (and throws) passed to `count` first. Methods run on the target
 * itself, so private state keeps working; non-function properties pass through.
 */
export function countingFailures<T extends object>(target: T, count: FailureCounter): T {
  const note = (error: unknown): never => {
    const code = storageFailureCode(error);
    if (code !== null) count(code);
    throw error;
  };
  return new Proxy(target, {
    get(object, property) {
      const value: unknown = Reflect.get(object, property, object);
      if (typeof value !== "function") return value;
      return (...args: unknown[]): unknown => {
        let result: unknown;
        try {
          result = Reflect.apply(value, object, args);
        } catch (error) {
          return note(error);
        }
        return result instanceof Promise ? result.catch(note) : result;
      };
    },
  });
}
