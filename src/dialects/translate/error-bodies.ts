/**
 * Error bodies in each dialect's envelope, and conversion between them, so an Item's error reads the way
 * its client's SDK expects: OpenAI `{error: {message, type, param, code}}`, Google
 * `{error: {code: <http status>, message, status: <canonical name>, details?}}`, Anthropic
 * `{type: "error", error: {type, message}, request_id}`.
 */
import type { Dialect } from "../../core/types.ts";
import { asObject, asString, type JsonObject } from "./json-fields.ts";
import { statusNameForHttp } from "../gemini/errors.ts";
import { openAIErrorBody as openAIEnvelope, openAIErrorType } from "../openai/errors.ts";
import { anthropicErrorBody as anthropicEnvelope, anthropicErrorType } from "../anthropic/errors.ts";

export function openAIErrorBody(statusCode: number, message: string, param: string | null = null, code: string | null = null): JsonObject {
  return { ...openAIEnvelope(message, openAIErrorType(statusCode), param, code) };
}

export function geminiErrorBody(statusCode: number, message: string, param: string | null = null): JsonObject {
  const error: JsonObject = { code: statusCode, message, status: statusNameForHttp(statusCode) };
  if (param !== null) {
    error.details = [{ "@type": "type.googleapis.com/google.rpc.BadRequest", fieldViolations: [{ field: param, description: message }] }];
  }
  return { error };
}

/** Anthropic's envelope has no field path: it leads the message, as the service writes it (`messages.0.content: ...`). */
export function anthropicErrorBody(statusCode: number, message: string, param: string | null = null): JsonObject {
  return anthropicEnvelope(anthropicErrorType(statusCode), param !== null && !message.startsWith(`${param}:`) ? `${param}: ${message}` : message);
}

export function errorBodyIn(dialect: Dialect, statusCode: number, message: string, param: string | null = null): JsonObject {
  if (dialect === "openai") return openAIErrorBody(statusCode, message, param);
  return dialect === "gemini" ? geminiErrorBody(statusCode, message, param) : anthropicErrorBody(statusCode, message, param);
}

type Envelope = "openai" | "gemini" | "anthropic" | null;

function envelopeOf(body: unknown): Envelope {
  const object = asObject(body);
  const error = asObject(object?.error);
  if (error === undefined) return null;
  if (object?.type === "error") return "anthropic";
  if (typeof error.status === "string") return "gemini";
  return "type" in error || "param" in error ? "openai" : null;
}

/**
 * An upstream error body (parsed JSON, text, or nothing) re-expressed in `dialect`'s envelope. A body
 * already in that shape is returned unchanged, so nothing the upstream said is lost on the direct path.
 */
export function toDialectErrorBody(dialect: Dialect, statusCode: number, body: unknown): unknown {
  const envelope = envelopeOf(body);
  if (envelope === dialect) return body;
  const error = asObject(asObject(body)?.error);
  const message = asString(error?.message) ?? (typeof body === "string" && body !== "" ? body : body == null ? `Upstream answered HTTP ${statusCode}.` : JSON.stringify(body));
  if (dialect === "gemini") return geminiErrorBody(statusCode, message);
  if (dialect === "anthropic") return anthropicErrorBody(statusCode, message);
  // OpenAI's `code` carries what the other envelope named the failure by (Google's status, Anthropic's type).
  const code = envelope === "gemini" || envelope === "anthropic" ? asString(envelope === "gemini" ? error?.status : error?.type) : asString(error?.code);
  return openAIErrorBody(statusCode, message, asString(error?.param) ?? null, code ?? null);
}
