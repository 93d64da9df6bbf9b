/** The one test for "a JSON object" (not null, not an array), used by every layer that reads parsed JSON. */
export type JsonObject = Record<string, unknown>;

export function isObject(value: unknown): value is JsonObject {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}
