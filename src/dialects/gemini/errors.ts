/**
 * Google's error envelope `{"error":{"code":<http status>,"message","status":"INVALID_ARGUMENT","details":[...]}}`
 * and the status tables behind it: the one builder for the API (src/api/gemini/errors.ts) and for
 * translation (src/dialects/translate/error-bodies.ts), so both give the same status for the same HTTP code.
 */
import { isObject, type Json } from "./wire.ts";

/** google.rpc.Code by canonical name. */
export const RPC_CODES = {
  OK: 0,
  CANCELLED: 1,
  UNKNOWN: 2,
  INVALID_ARGUMENT: 3,
  DEADLINE_EXCEEDED: 4,
  NOT_FOUND: 5,
  ALREADY_EXISTS: 6,
  PERMISSION_DENIED: 7,
  RESOURCE_EXHAUSTED: 8,
  FAILED_PRECONDITION: 9,
  ABORTED: 10,
  OUT_OF_RANGE: 11,
  UNIMPLEMENTED: 12,
  INTERNAL: 13,
  UNAVAILABLE: 14,
  DATA_LOSS: 15,
  UNAUTHENTICATED: 16,
} as const;

export type StatusName = keyof typeof RPC_CODES;

const STATUS_BY_HTTP: Record<number, StatusName> = {
  400: "INVALID_ARGUMENT",
  401: "UNAUTHENTICATED",
  403: "PERMISSION_DENIED",
  404: "NOT_FOUND",
  408: "DEADLINE_EXCEEDED",
  409: "ABORTED",
  413: "INVALID_ARGUMENT",
  414: "INVALID_ARGUMENT",
  415: "INVALID_ARGUMENT",
  429: "RESOURCE_EXHAUSTED",
  431: "INVALID_ARGUMENT",
  499: "CANCELLED",
  500: "INTERNAL",
  501: "UNIMPLEMENTED",
  502: "UNAVAILABLE",
  503: "UNAVAILABLE",
  504: "DEADLINE_EXCEEDED",
};

/** The canonical status name for an HTTP status (§1 of the spec). */
export function statusNameForHttp(httpStatus: number): StatusName {
  return STATUS_BY_HTTP[httpStatus] ?? (httpStatus >= 500 ? "UNKNOWN" : "FAILED_PRECONDITION");
}

/** The google.rpc.Code for an HTTP status, for Status objects inside results and operations. */
export function rpcCodeForHttp(httpStatus: number): number {
  return RPC_CODES[statusNameForHttp(httpStatus)];
}

export interface FieldViolation {
  field: string;
  description: string;
}

export const BAD_REQUEST_TYPE = "type.googleapis.com/google.rpc.BadRequest";

export function googleErrorBody(httpStatus: number, message: string, options: { status?: StatusName; details?: Json[] } = {}): Json {
  return { error: { code: httpStatus, message, status: options.status ?? statusNameForHttp(httpStatus), details: options.details ?? [] } };
}

export function badRequestDetail(violations: readonly FieldViolation[]): Json {
  return { "@type": BAD_REQUEST_TYPE, fieldViolations: violations };
}

/** Whether `body` already is a Google error envelope. */
export function isGoogleEnvelope(body: unknown): boolean {
  const inner = isObject(body) ? body.error : undefined;
  return isObject(inner) && typeof inner.message === "string" && typeof inner.code === "number";
}
