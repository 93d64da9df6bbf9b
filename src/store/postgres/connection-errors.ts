/**
 * Which failures of a `pg` call mean "the database cannot be reached" (answered as AppError("unavailable"),
 * 503) or "the database server's disk is full" (AppError("insufficient_storage"), 507, as the SQLite Store
 * answers), classified by code and by type, never by message text.
 *
 * Applied only to errors raised by pg itself (database.ts wraps each call), never to errors thrown by a
 * transaction's own code, so a Store's AppError("not_found") or a bug in our SQL is never mistaken for an
 * outage.
 */
import pg from "pg";

/** Node socket errors of a connection that cannot be made or was lost. */
const NETWORK_CODES = new Set(["ECONNREFUSED", "ECONNRESET", "ECONNABORTED", "ETIMEDOUT", "EPIPE", "EHOSTUNREACH", "EHOSTDOWN", "ENETUNREACH", "ENETDOWN", "ENOTFOUND", "EAI_AGAIN"]);

/**
 * SQLSTATEs outside class 08 (connection exception) that mean the server will not serve us now:
 * admin_shutdown, crash_shutdown, cannot_connect_now (starting up or in recovery), too_many_connections.
 */
const UNAVAILABLE_STATES = new Set(["57P01", "57P02", "57P03", "53300"]);

/** disk_full: the server could not extend a table or its WAL. */
const DISK_FULL_STATE = "53100";

export function isConnectionError(error: unknown): boolean {
  if (error instanceof pg.DatabaseError) {
    const state = error.code ?? "";
    return state.startsWith("08") || UNAVAILABLE_STATES.has(state);
  }
  const code = (error as { code?: unknown } | null)?.code;
  if (typeof code === "string") return NETWORK_CODES.has(code);
  // pg and pg-pool raise the loss of a connection ("Connection terminated unexpectedly"), a connect timeout
  // and a query on a client whose connection failed as plain Errors with no code at all; every other
  // failure of a query carries a SQLSTATE (DatabaseError) or is a TypeError/RangeError of our own values.
  return error instanceof Error && Object.getPrototypeOf(error) === Error.prototype;
}

export function isDiskFull(error: unknown): boolean {
  return error instanceof pg.DatabaseError && error.code === DISK_FULL_STATE;
}

/** `host:port/database` of a connection URL, without credentials, for the log. */
export function describeTarget(url: string): string {
  try {
    const parsed = new URL(url);
    return `${parsed.hostname}:${parsed.port || "5432"}${parsed.pathname}`;
  } catch {
    return "the configured database";
  }
}
