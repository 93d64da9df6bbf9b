/**
 * Start-up failures caused by the environment (a busy port, an unknown host, an unreachable database, a
 * data dir SQLite cannot use) turned into one line naming the problem and the fix. Classified by code only
 * (errno, SQLSTATE, SQLite result code, AppError code), walking the `cause` chain because the Store wraps
 * driver errors (e.g. AppError("unavailable") around ECONNREFUSED). Anything not recognised is returned
 * as null: it is a bug, and keeps its stack trace.
 */
import path from "node:path";
import type { Config } from "../config/config.ts";
import { maskDatabaseUrl } from "../config/database-url.ts";
import { AppError } from "../core/errors.ts";
import { describeFileSystemError, errorCode, ExitCode, OperatorError } from "./operator-error.ts";

const NETWORK_REASONS: Record<string, string> = {
  ECONNREFUSED: "connection refused",
  ECONNRESET: "connection reset",
  ETIMEDOUT: "connection timed out",
  EHOSTUNREACH: "host unreachable",
  ENETUNREACH: "network unreachable",
  ENOTFOUND: "host name not found",
  EAI_AGAIN: "host name lookup failed",
};

/** SQLSTATEs of a server that is up but will not serve us: shutting down, starting, too many clients. */
const SERVER_UNAVAILABLE = new Set(["57P01", "57P02", "57P03", "53300"]);

const SQLITE_REASONS: Record<string, string> = {
  SQLITE_CANTOPEN: "the file cannot be opened",
  SQLITE_NOTADB: "the file is not an SQLite database",
  SQLITE_CORRUPT: "the database file is corrupt",
  SQLITE_READONLY: "the database is read-only",
  SQLITE_FULL: "the disk is full",
  SQLITE_IOERR: "a disk I/O error",
  SQLITE_BUSY: "the database is locked by another process",
  SQLITE_PERM: "permission denied",
};

/** `server.listen` failed. */
export function describeListenFailure(error: unknown, host: string, port: number): OperatorError | null {
  const code = errorCode(error);
  const line = ((): string | null => {
    switch (code) {
      case "EADDRINUSE":
        return `port ${port} on ${host} is already in use (EADDRINUSE): stop the process using it, or choose another port with --port or SPOOL_PORT.`;
      case "EACCES":
        return `not allowed to listen on port ${port} (EACCES): ports below 1024 need extra privileges; choose another port with --port or SPOOL_PORT (e.g. 8080).`;
      case "EADDRNOTAVAIL":
        return `host ${host} is not an address of this machine (EADDRNOTAVAIL): set --host or SPOOL_HOST to 127.0.0.1, 0.0.0.0 (every address) or one of this machine's addresses.`;
      case "EAFNOSUPPORT":
        return `host ${host} is an IPv6 address but IPv6 is not available here (EAFNOSUPPORT): set --host or SPOOL_HOST to an IPv4 address such as 127.0.0.1.`;
      case "ENOTFOUND":
      case "EAI_AGAIN":
      case "EAI_NONAME":
        return `host ${host} cannot be resolved (${code}): set --host or SPOOL_HOST to an IP address or a name this machine resolves.`;
      default:
        return null;
    }
  })();
  return line === null ? null : new OperatorError(line, ExitCode.environment, { cause: error });
}

/** Opening the Store, migrating it or preparing the data dir's files failed. */
export function describeStoreFailure(error: unknown, config: Pick<Config, "databaseUrl" | "dataDir">): OperatorError | null {
  const chain = causeChain(error);
  // An AppError already says what to do (e.g. the store was migrated by a newer spool); only outages and
  // a full disk are better said with the database or data dir they concern.
  const own = error instanceof AppError && !["internal", "unavailable", "insufficient_storage"].includes(errorCode(error) ?? "") ? error.message : null;
  const line = own ?? (config.databaseUrl ? describeDatabaseFailure(chain, config.databaseUrl) : describeDataDirFailure(chain, config.dataDir));
  return line === null ? null : new OperatorError(line, ExitCode.environment, { cause: error });
}

function describeDatabaseFailure(chain: unknown[], databaseUrl: string): string | null {
  const target = `database ${maskDatabaseUrl(databaseUrl)}`;
  const fix = "check --database-url or SPOOL_DATABASE_URL";
  for (const error of chain) {
    const code = errorCode(error);
    if (code === undefined) continue;
    const network = NETWORK_REASONS[code];
    if (network) return `${target} is unreachable: ${network} (${code}): ${fix}, and that PostgreSQL is running there.`;
    if (code === "28P01" || code === "28000") return `${target} refused the login (${code}): ${fix} (user and password) and the server's pg_hba.conf.`;
    if (code === "3D000") return `${target} does not exist (3D000): create it (createdb ${databaseName(databaseUrl)}) or ${fix}.`;
    if (code === "42501") return `${target} does not let this user create spool's tables (42501): grant it CREATE on the database or schema, or ${fix}.`;
    if (code.startsWith("08") || SERVER_UNAVAILABLE.has(code)) return `${target} is not accepting connections (${code}): ${fix}, and that PostgreSQL is running and ready.`;
  }
  if (chain.some((error) => error instanceof AppError && errorCode(error) === "unavailable")) {
    return `${target} is unreachable: ${fix}, and that PostgreSQL is running there.`;
  }
  return null;
}

function describeDataDirFailure(chain: unknown[], dataDir: string): string | null {
  const fix = "choose another one with --data-dir or SPOOL_DATA_DIR";
  for (const error of chain) {
    const code = errorCode(error);
    if (code === undefined) continue;
    const sqliteReason = SQLITE_REASONS[code] ?? SQLITE_REASONS[code.replace(/^(SQLITE_[A-Z]+)_.*$/, "$1")];
    if (sqliteReason) {
      return `data dir ${dataDir}: cannot use the SQLite database ${path.join(dataDir, "spool.sqlite")}: ${sqliteReason} (${code}); move the file away or ${fix}.`;
    }
    const at = (error as { path?: unknown }).path;
    if (typeof at === "string" && /^E[A-Z]+$/.test(code)) return `data dir ${dataDir} is not writable: ${describeFileSystemError(error)}; ${fix}.`;
  }
  if (chain.some((error) => error instanceof AppError && errorCode(error) === "insufficient_storage")) {
    return `data dir ${dataDir} is not writable: the disk is full; free some space or ${fix}.`;
  }
  return null;
}

function databaseName(databaseUrl: string): string {
  try {
    return decodeURIComponent(new URL(databaseUrl).pathname.slice(1)) || "NAME";
  } catch {
    return "NAME";
  }
}

function causeChain(error: unknown): unknown[] {
  const chain: unknown[] = [];
  for (let current = error; current !== undefined && current !== null && chain.length < 8; current = (current as { cause?: unknown }).cause) {
    chain.push(current);
  }
  return chain;
}
