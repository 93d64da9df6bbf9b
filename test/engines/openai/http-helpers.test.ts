/** The shared HTTP helpers (src/engines/http/) the openai Engine is built on. */
import { describe, expect, it } from "vitest";
import { EngineError } from "../../../src/core/engine.ts";
import { abortedError, errorCode, networkError } from "../../../src/engines/http/network-errors.ts";
import { parseRetryAfter } from "../../../src/engines/http/retry-after.ts";

const NOW = Date.UTC(2026, 0, 1, 12, 0, 0);

describe("parseRetryAfter", () => {
  it("reads retry-after-ms first, then retry-after seconds, then an HTTP date", () => {
    expect(parseRetryAfter({ "retry-after-ms": "250", "retry-after": "9" }, NOW)).toBe(250);
    expect(parseRetryAfter({ "retry-after": "1.5" }, NOW)).toBe(1_500);
    expect(parseRetryAfter({ "retry-after": new Date(NOW + 30_000).toUTCString() }, NOW)).toBe(30_000);
  });

  it("treats a date in the past as 'now' and garbage as no hint", () => {
    expect(parseRetryAfter({ "retry-after": new Date(NOW - 5_000).toUTCString() }, NOW)).toBe(0);
    expect(parseRetryAfter({ "retry-after": "soon" }, NOW)).toBeNull();
    expect(parseRetryAfter({ "retry-after-ms": "-5" }, NOW)).toBeNull();
    expect(parseRetryAfter({}, NOW)).toBeNull();
  });
});

describe("network error classification", () => {
  it("finds the code on the cause chain, preferring a known one over undici's wrapper", () => {
    const wrapped = Object.assign(new Error("fetch failed"), { cause: Object.assign(new Error("other side closed"), { code: "UND_ERR_SOCKET", cause: Object.assign(new Error("read"), { code: "ECONNRESET" }) }) });
    expect(errorCode(wrapped)).toBe("UND_ERR_SOCKET");
    expect(errorCode(Object.assign(new Error("x"), { code: "SOMETHING_ELSE", cause: Object.assign(new Error("y"), { code: "EPIPE" }) }))).toBe("EPIPE");
  });

  it("classifies by code, never by message text", () => {
    const misleading = new Error("read ECONNRESET");
    expect(networkError(misleading, "POST x")).toMatchObject({ kind: "engine", retryable: false });
    const real = Object.assign(new Error("connect failed"), { code: "ECONNREFUSED" });
    expect(networkError(real, "POST x")).toMatchObject({ kind: "network", retryable: true });
    const tls = Object.assign(new Error("bad cert"), { code: "CERT_HAS_EXPIRED" });
    expect(networkError(tls, "POST x")).toMatchObject({ kind: "network", retryable: false });
  });

  it("tells a timeout from a caller's cancel by the abort reason", () => {
    expect(abortedError(AbortSignal.abort(new DOMException("t", "TimeoutError")), "POST x")).toMatchObject({ kind: "timeout", retryable: true });
    expect(abortedError(AbortSignal.abort(), "POST x")).toMatchObject({ kind: "aborted", retryable: false });
    const own = new EngineError({ kind: "timeout", message: "mine", retryable: true });
    expect(abortedError(AbortSignal.abort(own), "POST x")).toBe(own);
  });
});
