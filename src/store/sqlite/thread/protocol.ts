/**
 * The messages between the SQLite Store's thread (store-thread.ts) and its caller (threaded-store.ts), and
 * the error shapes that cross between them. Structured clone keeps plain data but not classes: an AppError
 * arrives as a plain object, so it is sent as fields and rebuilt on the other side, keeping its code,
 * message and param (what the API answers with) and its stack.
 */
import { AppError, type AppErrorCode } from "../../../core/errors.ts";

/** Caller -> thread: run one Store method. */
export interface CallMessage {
  id: number;
  method: string;
  args: unknown[];
}

/** Thread -> caller. */
export type ThreadMessage =
  | { kind: "ready" }
  | { kind: "open-failed"; error: SentError }
  | { kind: "result"; id: number; value: unknown }
  | { kind: "error"; id: number; error: SentError }
  | { kind: "log"; level: "error" | "warn" | "info"; fields: Record<string, unknown>; message: string | undefined };

export interface SentError {
  name: string;
  message: string;
  stack: string | undefined;
  /** An AppError's code, or a driver's (e.g. SQLITE_BUSY). */
  code: string | undefined;
  app: { param: string | null; details: unknown; reason: string | null } | null;
  cause: SentError | null;
}

export function sendError(error: unknown, depth = 0): SentError {
  if (!(error instanceof Error)) return { name: "Error", message: String(error), stack: undefined, code: undefined, app: null, cause: null };
  const code = (error as { code?: unknown }).code;
  const app = error instanceof AppError ? { param: error.param, details: cloneable(error.details), reason: error.reason } : null;
  // One level of cause is enough for the log line; deeper chains are the thread's to log.
  const cause = depth === 0 && error.cause !== undefined ? sendError(error.cause, 1) : null;
  return { name: error.name, message: error.message, stack: error.stack, code: typeof code === "string" ? code : undefined, app, cause };
}

export function receiveError(sent: SentError): Error {
  const cause = sent.cause === null ? undefined : receiveError(sent.cause);
  const error =
    sent.app === null
      ? Object.assign(new Error(sent.message, { cause }), sent.code === undefined ? {} : { code: sent.code })
      : new AppError(sent.code as AppErrorCode, sent.message, { ...sent.app, cause });
  error.name = sent.name;
  if (sent.stack !== undefined) error.stack = sent.stack;
  return error;
}

/** Log fields with any Error in them sent as its fields (pino prints those the same way). */
export function sendLogFields(fields: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(fields).map(([key, value]) => [key, value instanceof Error ? receiveErrorLike(sendError(value)) : cloneable(value)]));
}

function receiveErrorLike(sent: SentError): Record<string, unknown> {
  return { type: sent.name, message: sent.message, stack: sent.stack, ...(sent.code === undefined ? {} : { code: sent.code }) };
}

/** Details are plain data by contract; anything else (a function, a class instance) is dropped, not thrown. */
function cloneable(value: unknown): unknown {
  try {
    structuredClone(value);
    return value;
  } catch {
    return undefined;
  }
}
