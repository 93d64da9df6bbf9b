/**
 * One JSON POST to an upstream, with every failure turned into an EngineError that carries the retry
 * decision (kind, statusCode, retryable, retryAfterMs, requestId). Shared by the HTTP Engines.
 */
import type { Dispatcher } from "undici";
import { isRetryableStatus } from "../../core/retry-policy.ts";
import { EngineError } from "../../core/engine.ts";
import { parseJsonKeepingText } from "../../core/json.ts";
import { abortedError, networkError } from "./network-errors.ts";
import { exchangeJson } from "./json-exchange.ts";
import { headerValue, parseRetryAfter, type HttpHeaders } from "./retry-after.ts";

export interface PostJsonRequest {
  /** Usually a Pool from UpstreamPools. */
  dispatcher: Dispatcher;
  /** Path (and query) on the dispatcher's origin. */
  path: string;
  headers: Record<string, string>;
  /** Serialized JSON. */
  body: string;
  /** Caller's signal: a reason that is an EngineError is rethrown as is; a TimeoutError means "timeout". */
  signal?: AbortSignal;
  /** Own per-request timeout, for callers whose signal does not carry one (the Dispatcher's does). */
  timeoutMs?: number;
  /** Names the request in error messages, e.g. "POST http://host/v1/chat/completions". */
  description: string;
  nowMs?: () => number;
}

export interface JsonReply {
  statusCode: number;
  /** Parsed JSON. */
  body: unknown;
  /** The headers spool reads (json-exchange.ts READ_HEADERS): type, request id, retry hints. */
  headers: HttpHeaders;
  /** `x-request-id` (OpenAI and most servers) or `request-id` (Anthropic), when the upstream sent one. */
  requestId: string | null;
}

/** Resolves with the parsed body of a 2xx JSON answer; throws EngineError for everything else. */
export async function postJson(request: PostJsonRequest): Promise<JsonReply> {
  const { signal, cleanup } = withTimeout(request.signal, request.timeoutMs, request.description);
  try {
    if (signal?.aborted) throw abortedError(signal, request.description);
    const answer = await exchangeJson(request.dispatcher, { path: request.path, headers: request.headers, body: request.body, signal });
    return toJsonReply(answer.statusCode, answer.headers, answer.text, request);
  } catch (error) {
    throw exchangeError(error, signal, request.description);
  } finally {
    cleanup();
  }
}

/** What an exchange that threw failed with: its own EngineError, the signal's reason, or a network error. */
export function exchangeError(error: unknown, signal: AbortSignal | undefined, description: string): EngineError {
  if (error instanceof EngineError) return error;
  if (signal?.aborted) return abortedError(signal, description, error);
  return networkError(error, description);
}

/** The reply of a finished exchange; throws the EngineError of a non-2xx (or a 2xx that is not JSON). */
export function toJsonReply(statusCode: number, headers: HttpHeaders, text: string, request: PostJsonRequest): JsonReply {
  const requestId = upstreamRequestId(headers);
  const contentType = headerValue(headers, "content-type") ?? "";
  const ok = statusCode >= 200 && statusCode < 300;
  // Lenient: a 2xx JSON body labelled text/plain (some proxies) is still accepted.
  const parsed = contentType.includes("json") || ok ? parseJson(text) : NOT_JSON;
  if (ok) {
    if (parsed === NOT_JSON) {
      // A 2xx that is not JSON comes from something between us and the model (a captive proxy, a
      // misrouted load balancer): worth another try, reported as a bad gateway.
      throw new EngineError({
        kind: "http",
        message: `${request.description} answered ${statusCode} with a body that is not JSON (content-type '${contentType}').`,
        statusCode: 502,
        body: { error: { message: `Upstream answered ${statusCode} with a non-JSON body.`, type: "upstream_error", param: null, code: "bad_gateway" } },
        retryable: true,
        requestId,
      });
    }
    return { statusCode, body: parsed, headers, requestId };
  }
  const body = parsed === NOT_JSON ? (text === "" ? null : text) : parsed;
  throw new EngineError({
    kind: "http",
    message: `${request.description} answered ${statusCode}${upstreamMessage(body)}.`,
    statusCode,
    body,
    retryable: shouldRetry(statusCode, headers),
    retryAfterMs: parseRetryAfter(headers, (request.nowMs ?? Date.now)()),
    requestId,
  });
}

/** `x-should-retry: true|false` (OpenAI's and spool's own servers send it) overrides the status rule. */
function shouldRetry(statusCode: number, headers: HttpHeaders): boolean {
  const override = headerValue(headers, "x-should-retry");
  if (override === "true") return true;
  if (override === "false") return false;
  return isRetryableStatus(statusCode);
}

const NOT_JSON = Symbol("not json");

function parseJson(text: string): unknown {
  try {
    // The text is kept for the Worker, which stores an unchanged reply as the upstream sent it.
    return parseJsonKeepingText(text);
  } catch {
    return NOT_JSON;
  }
}

function upstreamMessage(body: unknown): string {
  if (typeof body === "object" && body !== null) {
    const error = (body as { error?: unknown }).error;
    const message = typeof error === "object" && error !== null ? (error as { message?: unknown }).message : undefined;
    if (typeof message === "string") return `: ${message.slice(0, 300)}`;
  }
  return typeof body === "string" && body.length > 0 ? `: ${body.slice(0, 300)}` : "";
}

/** The caller's signal, or one that also fires after `timeoutMs`; `cleanup` clears the timer and listener. */
export function withTimeout(outer: AbortSignal | undefined, timeoutMs: number | undefined, description: string): { signal: AbortSignal | undefined; cleanup: () => void } {
  if (timeoutMs === undefined) return { signal: outer, cleanup: noop };
  const controller = new AbortController();
  const timer = setTimeout(() => {
    controller.abort(new EngineError({ kind: "timeout", message: `${description} timed out after ${timeoutMs} ms.`, retryable: true }));
  }, timeoutMs);
  const forward = (): void => controller.abort(outer?.reason);
  if (outer?.aborted) forward();
  else outer?.addEventListener("abort", forward, { once: true });
  return {
    signal: controller.signal,
    cleanup: () => {
      clearTimeout(timer);
      outer?.removeEventListener("abort", forward);
    },
  };
}

function noop(): void {}

/** `x-request-id` (OpenAI and most servers) or `request-id` (Anthropic), when the upstream sent one. */
export function upstreamRequestId(headers: HttpHeaders): string | null {
  return headerValue(headers, "x-request-id") ?? headerValue(headers, "request-id") ?? null;
}
