/**
 * Lenient readers for JSON bodies crossing dialects. Gemini bodies follow protobuf JSON rules, so every
 * message field may arrive as lowerCamelCase or snake_case (`generationConfig` / `generation_config`).
 * Names are normalised per field read, never by rewriting whole objects: free-form maps inside a request
 * (schema `properties`, function `args`, `responseJsonSchema`) hold user keys that must stay as written.
 */
import { isObject, type JsonObject } from "../../core/json.ts";

export { isObject, type JsonObject };

export function snakeCase(camel: string): string {
  return camel.replace(/[A-Z]/g, (letter) => `_${letter.toLowerCase()}`);
}

export function camelCase(name: string): string {
  return name.replace(/_([a-z0-9])/g, (_match, letter: string) => letter.toUpperCase());
}

/** A protobuf-JSON field by its lowerCamelCase name, also accepting the snake_case spelling. */
export function field(object: JsonObject, camel: string): unknown {
  const value = object[camel];
  return value !== undefined ? value : object[snakeCase(camel)];
}

/** The lowerCamelCase names of the fields present (non-null) in `object`. */
export function presentFields(object: JsonObject): string[] {
  return Object.keys(object)
    .filter((key) => object[key] !== undefined && object[key] !== null)
    .map(camelCase);
}

export function asObject(value: unknown): JsonObject | undefined {
  return isObject(value) ? value : undefined;
}

export function asArray(value: unknown): unknown[] {
  return Array.isArray(value) ? value : [];
}

export function asString(value: unknown): string | undefined {
  return typeof value === "string" ? value : undefined;
}

/** Numbers, and int64 values that protobuf JSON writes as strings ("12"). */
export function asNumber(value: unknown): number | undefined {
  if (typeof value === "number" && Number.isFinite(value)) return value;
  if (typeof value === "string" && /^-?\d+(\.\d+)?$/.test(value.trim())) return Number(value);
  return undefined;
}

/** Copies the entries whose value is not undefined (keeps bodies free of `"x": undefined` noise). */
export function compact<T extends JsonObject>(object: T): T {
  return Object.fromEntries(Object.entries(object).filter(([, value]) => value !== undefined)) as T;
}
