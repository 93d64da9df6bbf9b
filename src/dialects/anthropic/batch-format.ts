/**
 * The Anthropic dialect's BatchFormat (contract: src/core/batch-format.ts).
 *
 * Input lines: `{"custom_id": "...", "params": <Messages request>}` — what the create route writes for each
 * inline request, and what `spool run` / `spool validate` read from a JSONL file. Every request names its own
 * model; there are no embeddings or legacy completions (kind "chat", endpoint "/v1/messages").
 *
 * Bad params use the "skip" policy, as the hosted service validates params asynchronously: the request ends
 * `errored` with an invalid_request_error naming the field, and the others run (decision 0016). The shape of
 * the create body itself (the list, custom_id rules, duplicates) is refused at create with a 400 instead.
 *
 * Results: one line per request, in input order (the service promises no order; clients key on custom_id):
 * `{"custom_id","result":{"type":"succeeded","message"}|{"type":"errored","error"}|{"type":"canceled"}|{"type":"expired"}}`.
 */
import { checkMediaParts, mediaReferencesOf } from "../translate/media-checks.ts";
import type { BatchFormat, LineOutcome, SniffedLine } from "../../core/batch-format.ts";
import { bodyJson } from "../../core/json.ts";
import type { ModelCatalog } from "../../core/model-catalog.ts";
import { ZERO_USAGE, type Batch, type Item, type ItemResult, type LineError } from "../../core/types.ts";
import { anthropicErrorBody, anthropicErrorType, isAnthropicEnvelope, type AnthropicErrorType } from "./errors.ts";
import { readLineObject } from "../line-object.ts";
import { checkMessagesRequest } from "./request-checks.ts";
import { anthropicRequestTraits } from "./request-traits.ts";
import { CUSTOM_ID_PATTERN, describe, isObject, MESSAGE_BATCH_PREFIX } from "./wire.ts";

/** The one endpoint a Message Batch runs. */
export const MESSAGES_ENDPOINT = "/v1/messages";
const LINE_FIELDS = new Set(["custom_id", "params"]);

/**
 * Where a line's problems are reported: `requests.3.params.max_tokens: ...` for an inline batch (the path in
 * the create body, as the service writes it), `Line 4 (custom_id "a"): params.max_tokens: ...` for a file.
 */
function locatedMessage(batch: Batch, lineNumber: number, customId: string | null): (message: string) => string {
  if (batch.options.inline === true) return (message) => `requests.${lineNumber - 1}.${message}`;
  const where = customId === null ? `Line ${lineNumber}` : `Line ${lineNumber} (custom_id ${JSON.stringify(customId)})`;
  return (message) => `${where}: ${message}`;
}

function parseLine(text: string, lineNumber: number, batch: Batch, catalog: ModelCatalog): LineOutcome {
  const read = readLineObject(text, lineNumber, 'like {"custom_id": "...", "params": {...}}');
  if (!read.ok) return invalid([read.error], null);
  const value = read.value;
  const errors: LineError[] = [];
  const customId = typeof value.custom_id === "string" && CUSTOM_ID_PATTERN.test(value.custom_id) ? value.custom_id : null;
  const located = locatedMessage(batch, lineNumber, customId);
  const add = (code: string, param: string | null, message: string): void => {
    errors.push({ line: lineNumber, code, param, message: located(message) });
  };
  const customIdProblem = checkCustomId(value.custom_id);
  if (customIdProblem !== null) add("invalid_custom_id", "custom_id", `custom_id: ${customIdProblem}`);
  for (const name of Object.keys(value)) {
    if (!LINE_FIELDS.has(name)) add("unknown_field", name, `${name}: Extra inputs are not permitted; a request holds "custom_id" and "params".`);
  }
  const checked = checkMessagesRequest(value.params, "params", catalog, { batch: true });
  for (const problem of checked.problems) add(problem.code, problem.param, problem.message);
  if (isObject(value.params)) for (const problem of checkMediaParts("anthropic", value.params, "params.")) add(problem.code, problem.param, problem.message);
  if (errors.length > 0 || checked.model === null || customId === null || !isObject(value.params)) return invalid(errors, customId);
  return { ok: true, line: { clientId: customId, echo: null, model: checked.model, kind: "chat", request: text, body: value.params } };
}

/** Why `value` is not a valid custom_id, or null when it is. */
export function checkCustomId(value: unknown): string | null {
  if (value === undefined || value === null) return "Field required: an id of 1 to 64 letters, digits, '_' or '-', unique within the batch.";
  if (typeof value !== "string") return `must be a string, found ${describe(value)}.`;
  if (!CUSTOM_ID_PATTERN.test(value)) return `${JSON.stringify(value.length > 80 ? `${value.slice(0, 80)}…` : value)} must match ^[a-zA-Z0-9_-]{1,64}$.`;
  return null;
}

function invalid(errors: LineError[], clientId: string | null): LineOutcome {
  return { ok: false, errors, clientId, echo: null };
}

function requestBody(request: string): Record<string, unknown> {
  const parsed: unknown = JSON.parse(request);
  if (isObject(parsed) && isObject(parsed.params)) return parsed.params;
  return isObject(parsed) ? parsed : {};
}

function duplicateIdError(clientId: string, lineNumber: number, firstLine: number): LineError {
  return {
    line: lineNumber,
    code: "duplicate_custom_id",
    param: "custom_id",
    message: `Line ${lineNumber}: custom_id ${JSON.stringify(clientId)} was already used on line ${firstLine}; each custom_id must be unique within the batch.`,
  };
}

/** Stored as the errored result the hosted service gives a request with bad params: an invalid_request_error. */
function invalidLineResult(errors: readonly LineError[], nowMs: number): ItemResult {
  const message = errors.map((error) => error.message).join(" ");
  return {
    statusCode: 400,
    body: JSON.stringify(anthropicErrorBody("invalid_request_error", message)),
    errorCode: "invalid_request",
    errorMessage: message,
    requestId: null,
    usage: ZERO_USAGE,
    finishedAtMs: nowMs,
  };
}

/** Error types for Items that ended without an Engine answer (errorCode from the Worker or the Sweeper). */
const TYPE_BY_ERROR_CODE: Record<string, AnthropicErrorType> = {
  invalid_request: "invalid_request_error",
  batch_cancelled: "api_error",
  request_timeout: "timeout_error",
  model_not_found: "not_found_error",
};

/** An Item's result as the `result` of its results line (JSON text). */
export function toBatchResultJson(item: Item): string {
  const result = item.result;
  if (result === null) return JSON.stringify({ type: "errored", error: anthropicErrorBody("api_error", "spool recorded no result for this request.") });
  // An Item stopped while running by its Batch's cancel is counted failed by the Store (request_counts says
  // errored), so its line says errored too: the lines and the counts always agree.
  if (result.errorCode === "batch_cancelled" && item.status !== "failed") return '{"type":"canceled"}';
  if (result.errorCode === "batch_expired") return '{"type":"expired"}';
  if (result.errorCode === null && result.statusCode !== null && result.statusCode >= 200 && result.statusCode < 300) {
    return `{"type":"succeeded","message":${bodyJson(result.body)}}`;
  }
  return `{"type":"errored","error":${JSON.stringify(errorEnvelopeOf(result))}}`;
}

function errorEnvelopeOf(result: ItemResult): unknown {
  const body = parseBody(result.body);
  if (isAnthropicEnvelope(body)) return body;
  const type = result.errorCode !== null ? (TYPE_BY_ERROR_CODE[result.errorCode] ?? "api_error") : anthropicErrorType(result.statusCode ?? 500);
  const inner = isObject(body) && isObject(body.error) && typeof body.error.message === "string" ? body.error.message : null;
  const message = inner ?? result.errorMessage ?? (typeof body === "string" && body !== "" ? body.slice(0, 2_000) : `The model backend answered HTTP ${result.statusCode ?? "(none)"}.`);
  return anthropicErrorBody(type, message, result.requestId);
}

function parseBody(body: string | null): unknown {
  if (body === null || body === "") return null;
  try {
    return JSON.parse(body) as unknown;
  } catch {
    return body;
  }
}

function resultLine(_batch: Batch, item: Item): { target: "output" | "error"; line: string } {
  return { target: "output", line: `{"custom_id":${JSON.stringify(item.clientId)},"result":${toBatchResultJson(item)}}` };
}

function resultFileNames(batch: Batch): { output: string; error: string } {
  const token = batch.id.startsWith(MESSAGE_BATCH_PREFIX) ? batch.id.slice(MESSAGE_BATCH_PREFIX.length) : batch.id;
  return { output: `msgbatch_${token}_results.jsonl`, error: `msgbatch_${token}_errors.jsonl` };
}

/** Message Batches end (expire) 24 h after creation. */
export const MESSAGE_BATCH_LIFETIME_MS = 24 * 3600 * 1000;
/** The service keeps results 29 days after creation; spool counts them from when they are written. */
const RESULT_RETENTION_MS = 29 * 24 * 3600 * 1000;

function sniffLine(record: Record<string, unknown>): SniffedLine | null {
  return "params" in record && !("url" in record) && !("body" in record) ? { endpoint: MESSAGES_ENDPOINT, kind: "chat" } : null;
}

function setLineModel(record: Record<string, unknown>, model: string): boolean {
  if (!isObject(record.params)) return false;
  record.params.model = model;
  return true;
}

export const anthropicBatchFormat: BatchFormat = {
  dialect: "anthropic",
  invalidLinePolicy: "skip",
  defaultLifetimeMs: MESSAGE_BATCH_LIFETIME_MS,
  resultRetentionMs: () => RESULT_RETENTION_MS,
  sniffLine,
  setLineModel,
  modelPerBatch: false,
  endpointProblem: (endpoint) => (endpoint === MESSAGES_ENDPOINT ? null : `Message Batches run ${MESSAGES_ENDPOINT} only, not '${endpoint}'.`),
  parseLine,
  requestBody,
  mediaReferences: (body) => mediaReferencesOf("anthropic", body, "params."),
  requestTraits: anthropicRequestTraits,
  duplicateIdError,
  invalidLineResult,
  resultLine,
  resultFileNames,
};
