/**
 * Small readers and writers for Gemini wire values. Gemini bodies follow protobuf JSON rules: every field
 * may arrive as lowerCamelCase or snake_case, int64 values as strings or numbers, and times are RFC 3339.
 * Names are normalised per field read, never by rewriting whole objects: free-form maps (`metadata`,
 * `responseJsonSchema`) hold user keys that must stay as written.
 */
import { isObject, type JsonObject } from "../../core/json.ts";
import { camelCase, field, snakeCase } from "../translate/json-fields.ts";

export { camelCase, field, isObject, snakeCase };
export type Json = JsonObject;

/** The name the client actually used for `camel` (for error paths that match what they wrote). */
export function spelledAs(object: Json, camel: string): string {
  return object[camel] === undefined && object[snakeCase(camel)] !== undefined ? snakeCase(camel) : camel;
}

/** int64 fields: numbers or decimal strings. Null when absent or not an integer. */
export function asInt64(value: unknown): number | null {
  if (typeof value === "number" && Number.isSafeInteger(value)) return value;
  if (typeof value === "string" && /^-?\d{1,15}$/.test(value.trim())) return Number(value.trim());
  return null;
}

/** "a number", "an array", "null" — for messages that say what was found instead. */
export function describe(value: unknown): string {
  if (value === null) return "null";
  if (Array.isArray(value)) return "an array";
  const type = typeof value;
  return type === "object" ? "an object" : type === "undefined" ? "nothing" : `a ${type}`;
}

/** RFC 3339 UTC with millisecond precision, as Google writes timestamps (`2026-01-06T11:09:11.943Z`). */
export function toTimestamp(ms: number): string {
  return new Date(ms).toISOString();
}

/** Gemini int64 fields are JSON strings. */
export function int64(value: number): string {
  return String(value);
}

/** Gemini names models `models/<name>`; spool's catalog holds the bare name. */
export function stripModelsPrefix(name: string): string {
  return name.startsWith("models/") ? name.slice("models/".length) : name;
}
