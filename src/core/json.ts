/** The one test for "a JSON object" (not null, not an array), used by every layer that reads parsed JSON. */
export type JsonObject = Record<string, unknown>;

export function isObject(value: unknown): value is JsonObject {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/**
 * A stored body (JSON text written by JSON.stringify) as a value to splice into a JSONL line: as it is, since
 * parsing and re-serializing every result would dominate finalization of large Batches. A body carrying a raw
 * newline (pretty-printed by some other writer) would split the line, so only then it is re-serialized.
 */
export function bodyJson(body: string | null): string {
  if (body === null || body.length === 0) return "null";
  if (!body.includes("\n") && !body.includes("\r")) return body;
  try {
    return JSON.stringify(JSON.parse(body));
  } catch {
    return JSON.stringify(body);
  }
}
