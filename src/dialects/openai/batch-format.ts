/**
 * The OpenAI dialect's BatchFormat (contract: src/core/batch-format.ts): how one input line becomes an Item,
 * and how a finished Item becomes one line of the output or error file.
 *
 * Validation reports every problem of a line, not only the first, each with the 1-based line number, a
 * stable code and the field path (`param`), so one `spool validate` run or one failed Batch lists all
 * that must be fixed. Codes are the hosted service's, as captured from the real API (llama-stack's
 * test suite): a missing custom_id, method, url or body is `missing_required_parameter`, a line asking
 * to stream `streaming_unsupported`, a url other than the batch endpoint `invalid_url`, a missing model
 * or messages `invalid_request`, plus invalid_json_line, duplicate_custom_id, model_mismatch,
 * model_not_found. spool's own further checks use codes in the same style (invalid_type, invalid_value,
 * unsupported_model).
 *
 * What fails the Batch and what fails only its line follows OpenAI too: the envelope of a line and the
 * presence and type of its body's main fields are checked here (a bad one fails the Batch with every
 * problem listed); what is inside a message (roles, content parts) is the endpoint's business, so such a
 * line runs and gets the Engine's (or upstream's) 400 in the error file, as at OpenAI.
 *
 * `/v1/responses` lines run as chat completions (src/dialects/translate/responses-*.ts): `requestBody`
 * gives the Engine the chat body, and `resultLine` turns the chat completion back into a `response`. A
 * Responses body that cannot be expressed as chat completions (a built-in tool, previous_response_id)
 * fails its own line with a 400 naming the field, when it is dispatched.
 *
 * Division of work with the generic caller (src/worker/validate-batch.ts `checkLines`):
 * - blank lines (empty or whitespace only), anywhere in the file, are skipped by the caller and never reach
 *   parseLine; a blank line carries no request, and rejecting one in the middle would fail a whole Batch
 *   over an editor artefact;
 * - duplicate custom ids and "one model per file" need state across lines, so the caller keeps it and asks
 *   this format for the error (duplicateIdError, modelMismatchError). parseLine stays a pure function of
 *   one line.
 */
import { checkMediaParts, mediaReferencesOf } from "../translate/media-checks.ts";
import type { BatchFormat, LineOutcome, SniffedLine } from "../../core/batch-format.ts";
import type { ModelCatalog } from "../../core/model-catalog.ts";
import { bodyJson, isObject, keepJsonText, type JsonObject } from "../../core/json.ts";
import { topLevelMemberText } from "../../core/json-member.ts";
import type { Batch, CallKind, Item, ItemResult, LineError, RequestKind } from "../../core/types.ts";
import { DEFAULT_MODERATION_MODEL, isSupportedEndpoint, KIND_BY_ENDPOINT, KIND_NOUN, MODERATIONS_ENDPOINT, SUPPORTED_ENDPOINTS } from "./endpoints.ts";
import { describeValue as describe, readLineObject } from "../line-object.ts";
import { openAIRequestTraits } from "./request-traits.ts";
import { EngineError } from "../../core/engine.ts";
import { ZERO_USAGE } from "../../core/types.ts";
import { openAIErrorBody } from "./errors.ts";
import { responsesToChatRequest } from "../translate/responses-request.ts";
import { chatToResponse } from "../translate/responses-reply.ts";
import { TranslationError } from "../translate/translation-error.ts";

const RESPONSES_ENDPOINT = "/v1/responses";

type Json = JsonObject;

class LineChecker {
  readonly errors: LineError[] = [];
  private prefix: string;

  constructor(private readonly lineNumber: number) {
    this.prefix = `Line ${lineNumber}`;
  }

  /** Names the custom_id in every later message, so users can find the request without counting lines. */
  setCustomId(clientId: string): void {
    this.prefix = `Line ${this.lineNumber} (custom_id ${JSON.stringify(clientId)})`;
  }

  add(code: string, param: string | null, message: string): void {
    this.errors.push({ line: this.lineNumber, code, param, message: `${this.prefix}: ${message}` });
  }
}

function parseLine(text: string, lineNumber: number, batch: Batch, catalog: ModelCatalog): LineOutcome {
  const read = readLineObject(text, lineNumber, "with custom_id, method, url and body");
  if (!read.ok) return invalid([read.error], null);
  const value = read.value;

  const check = new LineChecker(lineNumber);
  const clientId = checkCustomId(value.custom_id, check);
  if (value.method === undefined || value.method === null) {
    check.add("missing_required_parameter", "method", `Missing required parameter: 'method' (it must be "POST").`);
  } else if (value.method !== "POST") {
    check.add("invalid_value", "method", `'method' must be "POST", found ${JSON.stringify(value.method)}.`);
  }
  if (value.url === undefined || value.url === null) {
    check.add("missing_required_parameter", "url", `Missing required parameter: 'url' (it must be the batch endpoint '${batch.endpoint}').`);
  } else if (value.url !== batch.endpoint) {
    check.add("invalid_url", "url", `The URL provided for this request does not match the batch endpoint: 'url' is ${JSON.stringify(value.url)}, the batch endpoint is '${batch.endpoint}'.`);
  }
  const body = value.body;
  let model: string | null = null;
  if (body === undefined || body === null) {
    check.add("missing_required_parameter", "body", "Missing required parameter: 'body' (the request body of the endpoint, as an object).");
  } else if (!isObject(body)) {
    check.add("invalid_type", "body", `'body' must be an object, found ${describe(body)}.`);
  } else {
    const moderation = batch.endpoint === MODERATIONS_ENDPOINT;
    // A moderation line may leave out its model, as at OpenAI; whether the Model's Engine can serve it is
    // known at dispatch (its line alone fails if not), not from the kinds a Model is configured for.
    model = checkModel(moderation && body.model === undefined ? DEFAULT_MODERATION_MODEL : body.model, moderation ? null : batch.kind, catalog, check);
    checkBody(body, batch, check);
  }

  const parsed = isObject(body) ? engineBody(body, batch.endpoint) : null;
  // Responses bodies are checked as the chat body they run as (paths then name the chat body's parts).
  if (parsed !== null) for (const problem of checkMediaParts("openai", parsed, "body.")) check.add(problem.code, problem.param, problem.message);
  if (check.errors.length > 0 || model === null || clientId === null || parsed === null || !isObject(body)) {
    const named = isObject(body) && typeof body.model === "string" && body.model !== "" ? body.model : undefined;
    return { ...invalid(check.errors, clientId), ...(named === undefined ? {} : { model: named }) };
  }
  const echo = batch.endpoint === RESPONSES_ENDPOINT ? JSON.stringify(responseEchoOf(body)) : null;
  return { ok: true, line: { clientId, echo, model, kind: batch.kind, request: text, body: parsed } };
}

/**
 * What a `response` echoes of its request, kept with the Item (`echo`): the result line is written from the
 * stored reply at finalization, when the request itself is no longer read.
 */
function responseEchoOf(body: Json): Json {
  const echo: Json = {};
  for (const name of RESPONSE_ECHO_FIELDS) if (body[name] !== undefined) echo[name] = body[name];
  return echo;
}

const RESPONSE_ECHO_FIELDS = ["instructions", "max_output_tokens", "max_tool_calls", "parallel_tool_calls", "reasoning", "temperature", "text", "tool_choice", "tools", "top_logprobs", "top_p", "truncation", "user", "metadata"];

/**
 * The body the Engine gets for a line's body: itself, or for `/v1/responses` its chat completions form
 * (the body as it is when it cannot be translated: it then fails at dispatch, see requestBody).
 */
function engineBody(body: Json, endpoint: string): Json {
  if (endpoint !== RESPONSES_ENDPOINT) return body;
  try {
    return responsesToChatRequest(body);
  } catch (error) {
    if (error instanceof TranslationError) return body;
    throw error;
  }
}

function invalid(errors: LineError[], clientId: string | null): LineOutcome {
  return { ok: false, errors, clientId, echo: null };
}

function checkCustomId(value: unknown, check: LineChecker): string | null {
  if (value === undefined || value === null) {
    check.add("missing_required_parameter", "custom_id", "Missing required parameter: 'custom_id' (a string that is unique within the file).");
    return null;
  }
  if (typeof value !== "string") {
    check.add("invalid_type", "custom_id", `'custom_id' must be a string, found ${describe(value)}.`);
    return null;
  }
  if (value.length === 0) {
    check.add("invalid_value", "custom_id", "'custom_id' must not be empty.");
    return null;
  }
  check.setCustomId(value);
  return value;
}

function checkModel(value: unknown, kind: RequestKind | null, catalog: ModelCatalog, check: LineChecker): string | null {
  if (value === undefined || value === null || value === "") {
    check.add("invalid_request", "body.model", "Model parameter is required: 'body.model' names a configured model.");
    return null;
  }
  if (typeof value !== "string") {
    check.add("invalid_type", "body.model", `'body.model' must be a string, found ${describe(value)}.`);
    return null;
  }
  const config = catalog.get(value);
  if (!config) {
    check.add("model_not_found", "body.model", catalog.unknownModelMessage(value));
    return null;
  }
  if (kind !== null && !catalog.serves(config, kind)) {
    const serves = (config.kinds ?? []).map((each) => KIND_NOUN[each]).join(", ");
    check.add("unsupported_model", "body.model", `Model '${value}' does not serve ${KIND_NOUN[kind]} (it serves: ${serves}).`);
    return null;
  }
  return value;
}

function checkBody(body: Json, batch: Batch, check: LineChecker): void {
  if (body.stream === true) {
    check.add("streaming_unsupported", "body.stream", "Streaming is not supported in the Batch API: results are written to a file. Remove 'stream'.");
  }
  if (batch.endpoint === RESPONSES_ENDPOINT) {
    if (body.input === undefined || body.input === null) check.add("invalid_request", "body.input", "Input parameter is required for /v1/responses: a string or a list of input items.");
    else if (typeof body.input !== "string" && !Array.isArray(body.input)) check.add("invalid_type", "body.input", `'body.input' must be a string or a list of input items, found ${describe(body.input)}.`);
  } else if (batch.endpoint === MODERATIONS_ENDPOINT) checkModerationInput(body.input, check);
  else if (batch.kind === "chat") checkMessages(body.messages, check);
  else if (batch.kind === "embedding") checkTextInput(body.input, "body.input", check);
  else checkTextInput(body.prompt, "body.prompt", check);
}

/** The list itself; what is inside a message is the endpoint's to judge, for that line alone. */
function checkMessages(messages: unknown, check: LineChecker): void {
  if (messages === undefined || messages === null) {
    check.add("invalid_request", "body.messages", "Messages parameter is required for /v1/chat/completions.");
    return;
  }
  if (!Array.isArray(messages)) {
    check.add("invalid_type", "body.messages", `'body.messages' must be an array of messages, found ${describe(messages)}.`);
    return;
  }
  if (messages.length === 0) check.add("invalid_value", "body.messages", "'body.messages' must contain at least one message.");
}

/** A string, strings, or multimodal parts (`{"type": "text" | "image_url", ...}`), which the upstream judges. */
function checkModerationInput(value: unknown, check: LineChecker): void {
  if (value === undefined || value === null) {
    check.add("invalid_request", "body.input", "'body.input' is required for /v1/moderations: a string, an array of strings or an array of input parts.");
    return;
  }
  if (typeof value === "string") return;
  if (!Array.isArray(value)) {
    check.add("invalid_type", "body.input", `'body.input' must be a string, an array of strings or an array of input parts, found ${describe(value)}.`);
    return;
  }
  if (value.length === 0) check.add("invalid_value", "body.input", "'body.input' must not be an empty array.");
  else if (!value.every((each) => typeof each === "string") && !value.every(isObject)) {
    check.add("invalid_type", "body.input", "'body.input' must be an array of strings or an array of input part objects, not mixed.");
  }
}

/** Embedding `input` and completion `prompt`: a string, strings, a token array, or token arrays. */
function checkTextInput(value: unknown, param: string, check: LineChecker): void {
  const endpoint = param === "body.input" ? "/v1/embeddings" : "/v1/completions";
  if (value === undefined || value === null) {
    check.add("invalid_request", param, `'${param}' is required for ${endpoint}.`);
    return;
  }
  if (typeof value === "string") {
    if (value.length === 0 && param === "body.input") check.add("invalid_value", param, `'${param}' must not be an empty string.`);
    return;
  }
  const shape = `a string, an array of strings, an array of token ids or an array of token-id arrays`;
  if (!Array.isArray(value)) {
    check.add("invalid_type", param, `'${param}' must be ${shape}, found ${describe(value)}.`);
    return;
  }
  if (value.length === 0) {
    check.add("invalid_value", param, `'${param}' must not be an empty array.`);
    return;
  }
  const first: unknown = value[0];
  const isToken = (each: unknown): boolean => Number.isInteger(each);
  const fits =
    typeof first === "string"
      ? value.every((each) => typeof each === "string")
      : isToken(first)
        ? value.every(isToken)
        : value.every((each) => Array.isArray(each) && each.length > 0 && each.every(isToken));
  if (!fits) check.add("invalid_type", param, `'${param}' must be ${shape} (one kind, not mixed).`);
}

function duplicateIdError(clientId: string, lineNumber: number, firstLine: number): LineError {
  return {
    line: lineNumber,
    code: "duplicate_custom_id",
    param: "custom_id",
    message: `Line ${lineNumber}: custom_id ${JSON.stringify(clientId)} was already used on line ${firstLine}; each custom_id must be unique within the file.`,
  };
}

function modelMismatchError(model: string, firstModel: string | null, lineNumber: number): LineError | null {
  if (firstModel === null || model === firstModel) return null;
  return {
    line: lineNumber,
    code: "model_mismatch",
    param: "body.model",
    message: `Line ${lineNumber}: 'body.model' is '${model}' but earlier lines use '${firstModel}'; all requests of a batch file must use the same model.`,
  };
}

function invalidLineResult(errors: readonly LineError[], nowMs: number): ItemResult {
  return {
    statusCode: null,
    body: null,
    errorCode: "invalid_request",
    errorMessage: errors.map((error) => error.message).join(" "),
    requestId: null,
    usage: ZERO_USAGE,
    finishedAtMs: nowMs,
  };
}

function batchToken(batchId: string): string {
  return batchId.startsWith("batch_") ? batchId.slice("batch_".length) : batchId;
}

/** Deterministic, so a finalization redone after a crash writes byte-identical files. */
export function requestLineId(batchId: string, index: number): string {
  return `batch_req_${batchToken(batchId)}_${index}`;
}

function resultLine(batch: Batch, item: Item): { target: "output" | "error"; line: string } {
  const id = JSON.stringify(requestLineId(batch.id, item.index));
  const clientId = JSON.stringify(item.clientId);
  const result = item.result;
  if (result !== null && result.errorCode === null && result.statusCode !== null) {
    const ok = result.statusCode >= 200 && result.statusCode < 300;
    // request_id is typed as a string by the SDK; engines without one (llama-cpp) get spool's own.
    const requestId = JSON.stringify(result.requestId ?? `req_${batchToken(batch.id)}_${item.index}`);
    const body = ok && batch.endpoint === RESPONSES_ENDPOINT ? responseBodyJson(item, result.body) : bodyJson(result.body);
    const response = `{"status_code":${result.statusCode},"request_id":${requestId},"body":${body}}`;
    return { target: ok ? "output" : "error", line: `{"id":${id},"custom_id":${clientId},"response":${response},"error":null}` };
  }
  const error = {
    code: result?.errorCode ?? "internal_error",
    message: result?.errorMessage ?? "spool recorded no result for this request.",
  };
  return { target: "error", line: `{"id":${id},"custom_id":${clientId},"response":null,"error":${JSON.stringify(error)}}` };
}

/** A `/v1/responses` Item's chat completion as the `response` its line asked for. */
function responseBodyJson(item: Item, chatBody: string | null): string {
  const request = item.echo === null ? {} : (JSON.parse(item.echo) as Json);
  return JSON.stringify(chatToResponse(chatBody === null ? null : JSON.parse(chatBody), { request, modelName: item.model }));
}

function resultFileNames(batch: Batch): { output: string; error: string } {
  const base = `batch_${batchToken(batch.id)}`;
  return { output: `${base}_output.jsonl`, error: `${base}_error.jsonl` };
}

/**
 * Items keep their whole input line (see ParsedLine.request); the Engine gets its `body`, as chat
 * completions for a `/v1/responses` line. A Responses body with no chat form throws the line's own 400.
 */
function requestBody(request: string): Record<string, unknown> {
  return engineCall(request, "chat").body;
}

/** A `/v1/moderations` line (stored as an embedding Item) is a moderation call; every other line its kind. */
function engineCall(request: string, kind: RequestKind): { kind: CallKind; body: Record<string, unknown> } {
  const parsed = JSON.parse(request) as { body?: unknown; url?: unknown };
  const body = isObject(parsed.body) ? parsed.body : (parsed as Record<string, unknown>);
  if (parsed.url === RESPONSES_ENDPOINT) return { kind, body: responsesChatBody(body) };
  // The body goes upstream as the line's own bytes when nothing changes it (core/json-member.ts says why).
  const text = body === parsed.body ? topLevelMemberText(request, "body") : null;
  if (text !== null) keepJsonText(body, text);
  return { kind: parsed.url === MODERATIONS_ENDPOINT ? "moderation" : kind, body };
}

function responsesChatBody(body: Record<string, unknown>): Record<string, unknown> {
  try {
    return responsesToChatRequest(body);
  } catch (error) {
    if (!(error instanceof TranslationError)) throw error;
    const message = `Invalid request for /v1/responses: ${error.message}`;
    throw new EngineError({ kind: "unsupported", message, statusCode: 400, body: openAIErrorBody(message, "invalid_request_error", error.param, "unsupported_parameter"), retryable: false });
  }
}

/** Result files are kept 30 days unless the create asked otherwise (`output_expires_after`). */
const DEFAULT_RESULT_RETENTION_MS = 30 * 24 * 3600 * 1000;

function resultRetentionMs(batch: Batch): number {
  return typeof batch.options.outputExpiresAfterMs === "number" ? batch.options.outputExpiresAfterMs : DEFAULT_RESULT_RETENTION_MS;
}

function sniffLine(record: Record<string, unknown>): SniffedLine | null {
  if (!("custom_id" in record) && !("url" in record)) return null;
  const endpoint = typeof record.url === "string" ? record.url : "/v1/chat/completions";
  return { endpoint, kind: isSupportedEndpoint(endpoint) ? KIND_BY_ENDPOINT[endpoint] : "chat" };
}

function setLineModel(record: Record<string, unknown>, model: string): boolean {
  if (!isObject(record.body)) return false;
  record.body.model = model;
  return true;
}

export const openAIBatchFormat: BatchFormat = {
  dialect: "openai",
  invalidLinePolicy: "fail",
  defaultLifetimeMs: 24 * 3600 * 1000,
  resultRetentionMs,
  sniffLine,
  setLineModel,
  modelPerBatch: false,
  endpointProblem: (endpoint) =>
    isSupportedEndpoint(endpoint) ? null : `the first request's url is '${endpoint}'; spool runs batches for ${SUPPORTED_ENDPOINTS.join(", ")}.`,
  parseLine,
  requestBody,
  mediaReferences: (body) => mediaReferencesOf("openai", body, "body."),
  engineCall,
  requestTraits: openAIRequestTraits,
  duplicateIdError,
  modelMismatchError,
  invalidLineResult,
  resultLine,
  resultFileNames,
};
