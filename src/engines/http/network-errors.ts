/**
 * Turns a failed HTTP exchange into an EngineError. Classification is by error `code` (Node system errors
 * and undici's `UND_ERR_*`), looked up along the `cause` chain — never by message text, which changes
 * between Node and undici versions and with the locale of the resolver.
 */
import { EngineError } from "../../core/engine.ts";

/** Connection-level failures worth another try: the server or the path to it may be back in a moment. */
const RETRYABLE_NETWORK_CODES = new Set([
  "ECONNRESET",
  "ECONNREFUSED",
  "ECONNABORTED",
  "EPIPE",
  "ETIMEDOUT",
  "EHOSTUNREACH",
  "ENETUNREACH",
  "ENETDOWN",
  "EHOSTDOWN",
  "EAI_AGAIN",
  // A name that does not resolve is usually a config mistake, but container DNS is often briefly empty
  // while a peer restarts; a few capped retries cost little.
  "ENOTFOUND",
  "UND_ERR_SOCKET",
  "UND_ERR_CLOSED",
  "UND_ERR_CONNECT_TIMEOUT",
  "UND_ERR_HEADERS_TIMEOUT",
  "UND_ERR_BODY_TIMEOUT",
  "UND_ERR_RES_CONTENT_LENGTH_MISMATCH",
  "UND_ERR_INFO",
]);

/** TLS failures: a network problem, but a certificate will not fix itself between retries. */
const TLS_CODE = /^(ERR_TLS_|ERR_SSL_|CERT_|UNABLE_TO_|DEPTH_ZERO_SELF_SIGNED_CERT|SELF_SIGNED_CERT)/;

/**
 * The most telling `code` on the error or its causes: the first one this module knows, else the outermost.
 * undici wraps socket errors (`UND_ERR_SOCKET` around `ECONNRESET`), and fetch-style errors carry the code
 * only on `cause`.
 */
export function errorCode(error: unknown): string | null {
  let first: string | null = null;
  let current: unknown = error;
  for (let depth = 0; depth < 5 && typeof current === "object" && current !== null; depth += 1) {
    const code = (current as { code?: unknown }).code;
    if (typeof code === "string") {
      if (RETRYABLE_NETWORK_CODES.has(code) || TLS_CODE.test(code)) return code;
      first ??= code;
    }
    current = (current as { cause?: unknown }).cause;
  }
  return first;
}

/** Whether an abort reason means "the per-request timeout elapsed" (as opposed to a caller's cancel). */
export function isTimeoutReason(reason: unknown): boolean {
  if (reason instanceof EngineError) return reason.kind === "timeout";
  return typeof reason === "object" && reason !== null && (reason as { name?: unknown }).name === "TimeoutError";
}

/**
 * The EngineError for a request whose `signal` fired. A reason that is already an EngineError (the
 * Dispatcher aborts attempts with one) is used as is, so the decision stays where it was made.
 */
export function abortedError(signal: AbortSignal, what: string, cause?: unknown): EngineError {
  const reason: unknown = signal.reason;
  if (reason instanceof EngineError) return reason;
  if (isTimeoutReason(reason)) {
    return new EngineError({ kind: "timeout", message: `${what} timed out.`, retryable: true, cause: reason });
  }
  return new EngineError({ kind: "aborted", message: `${what} was cancelled.`, retryable: false, cause: cause ?? reason });
}

/** The EngineError for an exchange that failed without an HTTP answer (and without an abort). */
export function networkError(error: unknown, what: string): EngineError {
  if (error instanceof EngineError) return error;
  const code = errorCode(error);
  if (code !== null && RETRYABLE_NETWORK_CODES.has(code)) {
    return new EngineError({ kind: "network", message: `${what} failed: connection error ${code}.`, retryable: true, cause: error });
  }
  if (code !== null && TLS_CODE.test(code)) {
    return new EngineError({ kind: "network", message: `${what} failed: TLS error ${code}. Check the upstream's certificate and baseUrl.`, retryable: false, cause: error });
  }
  return new EngineError({
    kind: "engine",
    message: `${what} failed unexpectedly${code ? ` (${code})` : ""}.`,
    retryable: false,
    cause: error,
  });
}
