/**
 * Error bodies in each dialect's envelope, and conversion between them, so an Item's error reads the way
 * its client's SDK expects: OpenAI `{error: {message, type, param, code}}`, Google
 * `{error: {code: <http status>, message, status: <canonical name>, details?}}`.
 */
import type { Dialect } from "../../core/types.ts";
import { asNumber, asObject, asString, type JsonObject } from "./json-fields.ts";
import { statusNameForHttp } from "../gemini/errors.ts";
import { openAIErrorBody as openAIEnvelope, openAIErrorType } from "../openai/errors.ts";

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

export function errorBodyIn(dialect: Dialect, statusCode: number, message: string, param: string | null = null): JsonObject {
  return dialect === "openai" ? openAIErrorBody(statusCode, message, param) : geminiErrorBody(statusCode, message, param);
}

/**
 * An upstream error body (parsed JSON, text, or nothing) re-expressed in `dialect`'s envelope. A body
 * already in that shape is returned unchanged, so nothing the upstream said is lost on the direct path.
 */
export function toDialectErrorBody(dialect: Dialect, statusCode: number, body: unknown): unknown {
  const error = asObject(asObject(body)?.error);
  const isGoogle = error !== undefined && typeof error.status === "string";
  const isOpenAI = error !== undefined && !isGoogle && ("type" in error || "param" in error);
  if ((dialect === "gemini" && isGoogle) || (dialect === "openai" && isOpenAI)) return body;
  const message = asString(error?.message) ?? (typeof body === "string" && body !== "" ? body : body == null ? `Upstream answered HTTP ${statusCode}.` : JSON.stringify(body));
  if (dialect === "gemini") return geminiErrorBody(asNumber(error?.code) ?? statusCode, message);
  const googleStatus = isGoogle ? asString(error?.status) : undefined;
  return openAIErrorBody(statusCode, message, asString(error?.param) ?? null, googleStatus ?? asString(error?.code) ?? null);
}
