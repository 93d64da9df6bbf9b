/**
 * The Gemini dialect's BatchFormat (contract: src/core/batch-format.ts).
 *
 * Input lines: `{"key": "...", "request": GenerateContentRequest | EmbedContentRequest, "metadata"?: {...}}`
 * (the key may also sit in `metadata.key`). Inline batches (`options.inline`) are written by the create
 * route as the same lines without `key`; their `metadata` is echoed and never used as an id, since inline
 * metadata is the client's opaque object and need not be unique.
 *
 * Gemini batches use the "skip" policy (decision 0003): a bad line becomes a failed Item carrying every
 * problem of that line (line number, code, field path), and the good lines run.
 *
 * Results: everything goes to the one output file, in input order — a success line
 * `{"key","response"}`, a failure line `{"key","error":{code,message,details}}` with the google.rpc code.
 */
import type { BatchFormat, LineOutcome, SniffedLine } from "../../core/batch-format.ts";
import type { ModelCatalog } from "../../core/model-catalog.ts";
import type { Batch, Item, ItemResult, LineError } from "../../core/types.ts";
import { badRequestDetail, googleErrorBody, RPC_CODES, rpcCodeForHttp } from "./errors.ts";
import { readLineObject } from "../line-object.ts";
import { checkRequest } from "./request-checks.ts";
import { geminiRequestTraits } from "./request-traits.ts";
import { describe, isObject, type Json } from "./wire.ts";
import { ZERO_USAGE } from "../../core/types.ts";
import { bodyJson } from "../../core/json.ts";

const LINE_FIELDS = new Set(["key", "request", "metadata"]);

function parseLine(text: string, lineNumber: number, batch: Batch, catalog: ModelCatalog): LineOutcome {
  const prefix = (key: string | null): string => (key === null ? `Line ${lineNumber}` : `Line ${lineNumber} (key ${JSON.stringify(key)})`);
  // The nesting check runs before anything recursive (JSON.stringify of metadata below, translation at dispatch).
  const read = readLineObject(text, lineNumber, 'like {"key": "...", "request": {...}}');
  if (!read.ok) return invalid([read.error], null, null);
  const value = read.value;

  const errors: LineError[] = [];
  const inline = batch.options.inline === true;
  const metadata = value.metadata;
  let echo: string | null = null;
  let key: string | null = null;
  const add = (code: string, param: string | null, message: string): void => {
    errors.push({ line: lineNumber, code, param, message: `${prefix(key)}: ${message}` });
  };

  if (metadata !== undefined && metadata !== null) {
    if (isObject(metadata)) echo = JSON.stringify(metadata);
    else add("invalid_type", "metadata", `metadata must be an object, found ${describe(metadata)}.`);
  }
  const rawKey = value.key !== undefined ? value.key : inline || !isObject(metadata) ? undefined : metadata.key;
  if (rawKey !== undefined && rawKey !== null) {
    if (typeof rawKey === "string" && rawKey.length > 0) key = rawKey;
    else add("invalid_key", value.key !== undefined ? "key" : "metadata.key", `key must be a non-empty string, found ${describe(rawKey)}.`);
  }

  for (const name of Object.keys(value)) {
    if (LINE_FIELDS.has(name)) continue;
    const hint =
      name === "contents" || name === "content"
        ? ` Put the request under "request": {"key": "...", "request": {"${name}": ...}}.`
        : ` A line holds "key", "request" and optionally "metadata".`;
    add("unknown_field", name, `unknown field "${name}".${hint}`);
  }

  const checked = checkRequest(value.request, "request", batch.kind, batch.model, catalog);
  for (const problem of checked.problems) add(problem.code, problem.param, problem.message);
  if (errors.length > 0 || checked.model === null) {
    if (errors.length === 0) add("model_not_found", "request.model", `no model: ${catalog.unknownModelMessage("")}`);
    return invalid(errors, key, echo);
  }
  // The line itself is stored; requestBody extracts `request` at dispatch (one parse the Worker does anyway).
  if (!isObject(value.request)) return invalid(errors, key, echo);
  const line = { clientId: key, echo, model: checked.model, kind: batch.kind, request: text, body: value.request };
  if (key !== null || inline) return { ok: true, line };
  const warning = `${prefix(null)}: no "key": its result line will carry no key either, so it can only be matched to this request by position. Add "key": "<unique id>".`;
  return { ok: true, line: { ...line, warnings: [{ line: lineNumber, code: "missing_key", param: "key", message: warning }] } };
}

function invalid(errors: LineError[], clientId: string | null, echo: string | null): LineOutcome {
  return { ok: false, errors, clientId, echo };
}

function requestBody(request: string): Record<string, unknown> {
  const parsed: unknown = JSON.parse(request);
  if (isObject(parsed) && isObject(parsed.request)) return parsed.request;
  return isObject(parsed) ? parsed : {};
}

function duplicateIdError(clientId: string, lineNumber: number, firstLine: number): LineError {
  return {
    line: lineNumber,
    code: "duplicate_key",
    param: "key",
    message: `Line ${lineNumber}: key ${JSON.stringify(clientId)} was already used on line ${firstLine}; each key must be unique within the file.`,
  };
}

/**
 * Stored as a Google error envelope (status 400) so the result line can carry every field violation;
 * `errorCode` marks it as a validation failure rather than an engine answer.
 */
function invalidLineResult(errors: readonly LineError[], nowMs: number): ItemResult {
  const message = errors.map((error) => error.message).join(" ");
  const violations = errors.filter((error) => error.param !== null).map((error) => ({ field: error.param ?? "", description: error.message }));
  const body = googleErrorBody(400, message, { details: violations.length > 0 ? [badRequestDetail(violations)] : [] });
  return {
    statusCode: 400,
    body: JSON.stringify(body),
    errorCode: "invalid_request",
    errorMessage: message,
    requestId: null,
    usage: ZERO_USAGE,
    finishedAtMs: nowMs,
  };
}

/** google.rpc codes for Items that ended without an Engine answer (errorCode from the worker/sweeper). */
const RPC_BY_ERROR_CODE: Record<string, number> = {
  invalid_request: RPC_CODES.INVALID_ARGUMENT,
  batch_expired: RPC_CODES.DEADLINE_EXCEEDED,
  batch_cancelled: RPC_CODES.CANCELLED,
  request_timeout: RPC_CODES.DEADLINE_EXCEEDED,
  upstream_unavailable: RPC_CODES.UNAVAILABLE,
  model_not_found: RPC_CODES.NOT_FOUND,
  engine_error: RPC_CODES.INTERNAL,
  internal_error: RPC_CODES.INTERNAL,
  // Its workers kept dying while running it: ABORTED, so it is not mistaken for "no result" (UNKNOWN).
  item_crashed: RPC_CODES.ABORTED,
};

/** What an Item's result becomes on the wire: a response (as JSON text) or a google.rpc.Status. */
export type ItemWireResult = { response: string } | { error: { code: number; message: string; details: unknown[] } };

export function toItemWireResult(item: Item): ItemWireResult {
  const result = item.result;
  if (result === null) {
    return { error: { code: RPC_CODES.UNKNOWN, message: "spool recorded no result for this request.", details: [] } };
  }
  if (result.errorCode === null && result.statusCode !== null && result.statusCode >= 200 && result.statusCode < 300) {
    return { response: bodyJson(result.body) };
  }
  const envelope = parseEnvelope(result.body);
  const code =
    result.errorCode !== null
      ? (RPC_BY_ERROR_CODE[result.errorCode] ?? RPC_CODES.UNKNOWN)
      : result.statusCode !== null
        ? rpcCodeForHttp(result.statusCode)
        : RPC_CODES.UNKNOWN;
  const message = envelope?.message ?? result.errorMessage ?? (result.statusCode !== null ? `The model backend answered HTTP ${result.statusCode}.` : "The request failed.");
  return { error: { code, message, details: envelope?.details ?? [] } };
}

function parseEnvelope(body: string | null): { message: string | null; details: unknown[] } | null {
  if (body === null || body.length === 0) return null;
  try {
    const parsed: unknown = JSON.parse(body);
    const error = isObject(parsed) ? parsed.error : undefined;
    if (!isObject(error)) return null;
    return { message: typeof error.message === "string" ? error.message : null, details: Array.isArray(error.details) ? error.details : [] };
  } catch {
    return { message: body.slice(0, 2_000), details: [] };
  }
}


function resultLine(_batch: Batch, item: Item): { target: "output" | "error"; line: string } {
  const wire = toItemWireResult(item);
  const parts: string[] = [];
  parts.push("response" in wire ? `"response":${wire.response}` : `"error":${JSON.stringify(wire.error)}`);
  if (item.echo !== null) parts.push(`"metadata":${bodyJson(item.echo)}`);
  if (item.clientId !== null) parts.push(`"key":${JSON.stringify(item.clientId)}`);
  return { target: "output", line: `{${parts.join(",")}}` };
}

function batchToken(batchId: string): string {
  return batchId.startsWith("batch_") ? batchId.slice("batch_".length) : batchId;
}

function resultFileNames(batch: Batch): { output: string; error: string } {
  return { output: `batch-${batchToken(batch.id)}.jsonl`, error: `batch-${batchToken(batch.id)}-errors.jsonl` };
}

/** Gemini batches expire 48 h after creation. */
export const GEMINI_BATCH_LIFETIME_MS = 48 * 3600 * 1000;
const RESULT_RETENTION_MS = 30 * 24 * 3600 * 1000;

function sniffLine(record: Record<string, unknown>): SniffedLine | null {
  if (!("request" in record) && !("key" in record)) return null;
  const request = record.request;
  const isEmbedding = isObject(request) && "content" in request && !("contents" in request);
  return isEmbedding ? { endpoint: "asyncBatchEmbedContent", kind: "embedding" } : { endpoint: "batchGenerateContent", kind: "chat" };
}

function setLineModel(record: Record<string, unknown>, model: string): boolean {
  if (!isObject(record.request) || !("model" in record.request)) return false;
  record.request.model = model;
  return true;
}

export const geminiBatchFormat: BatchFormat = {
  dialect: "gemini",
  invalidLinePolicy: "skip",
  defaultLifetimeMs: GEMINI_BATCH_LIFETIME_MS,
  resultRetentionMs: () => RESULT_RETENTION_MS,
  sniffLine,
  setLineModel,
  modelPerBatch: true,
  endpointProblem: () => null,
  parseLine,
  requestBody,
  requestTraits: geminiRequestTraits,
  duplicateIdError,
  invalidLineResult,
  resultLine,
  resultFileNames,
};

/** For inline results: the parsed response or error of one Item, with its metadata. */
export function toInlinedResponse(item: Item): Json {
  const wire = toItemWireResult(item);
  const entry: Json = "response" in wire ? { response: JSON.parse(wire.response) as unknown } : { error: wire.error };
  if (item.echo !== null) entry.metadata = JSON.parse(item.echo) as unknown;
  return entry;
}
