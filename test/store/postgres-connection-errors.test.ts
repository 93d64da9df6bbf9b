/**
 * Which pg failures mean "the database is unreachable" (503) or "its disk is full" (507). The outage test
 * (test/hardening/database-outage.test.ts) produces refused and dropped connections for real; this covers
 * the server-sent SQLSTATEs that a test cannot cause on a shared server (shutdown, recovery, full disk).
 */
import pg from "pg";
import { describe, expect, it } from "vitest";
import { isConnectionError, isDiskFull } from "../../src/store/postgres/connection-errors.ts";
import { AppError } from "../../src/core/errors.ts";

function serverError(code: string): pg.DatabaseError {
  const error = new pg.DatabaseError("server error", 0, "error");
  error.code = code;
  return error;
}

function socketError(code: string): Error {
  return Object.assign(new Error(`connect ${code}`), { code });
}

describe("postgres connection errors", () => {
  it("treats connection exceptions, shutdowns and refused or lost sockets as unreachable", () => {
    for (const code of ["08000", "08003", "08006", "08001", "57P01", "57P02", "57P03", "53300"]) expect(isConnectionError(serverError(code)), code).toBe(true);
    for (const code of ["ECONNREFUSED", "ECONNRESET", "ETIMEDOUT", "EPIPE", "ENOTFOUND"]) expect(isConnectionError(socketError(code)), code).toBe(true);
    // What pg raises, with no code, when a connection ends under a query or a connect times out.
    expect(isConnectionError(new Error("Connection terminated unexpectedly"))).toBe(true);
  });

  it("leaves query failures, our own errors and programming errors alone", () => {
    for (const code of ["23505", "40P01", "22021", "42P01", "57014", "53100"]) expect(isConnectionError(serverError(code)), code).toBe(false);
    expect(isConnectionError(new AppError("not_found", "No batch."))).toBe(false);
    expect(isConnectionError(new TypeError("bad value"))).toBe(false);
    expect(isConnectionError(new RangeError("not a safe integer"))).toBe(false);
    expect(isConnectionError(Object.assign(new Error("file"), { code: "ENOENT" }))).toBe(false);
  });

  it("recognizes the server's full disk", () => {
    expect(isDiskFull(serverError("53100"))).toBe(true);
    expect(isDiskFull(serverError("53200"))).toBe(false);
    expect(isDiskFull(socketError("ENOSPC"))).toBe(false);
  });
});
