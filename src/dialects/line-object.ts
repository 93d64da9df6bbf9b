/**
 * The first checks every dialect makes of one input line, in the same words: nesting within the limit
 * (before anything recursive sees the value), JSON, and an object. What the object must hold is the
 * dialect's own business (its BatchFormat.parseLine).
 */
import { findExcessiveNesting, nestingLineError } from "../core/json-nesting.ts";
import { isObject, type JsonObject } from "../core/json.ts";
import type { LineError } from "../core/types.ts";

/** "a number", "an array", "null" — for messages that say what was found instead. */
export function describeValue(value: unknown): string {
  if (value === null) return "null";
  if (Array.isArray(value)) return "an array";
  const type = typeof value;
  return type === "object" ? "an object" : type === "undefined" ? "nothing" : `a ${type}`;
}

/** `shape` completes "Line N must be a JSON object ...", e.g. `like {"key": "...", "request": {...}}`. */
export function readLineObject(text: string, lineNumber: number, shape: string): { ok: true; value: JsonObject } | { ok: false; error: LineError } {
  const tooDeep = findExcessiveNesting(text);
  if (tooDeep) return { ok: false, error: nestingLineError(lineNumber, tooDeep) };
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    const reason = error instanceof Error ? ` (${error.message})` : "";
    return { ok: false, error: { line: lineNumber, code: "invalid_json_line", param: null, message: `Line ${lineNumber} is not valid JSON${reason}.` } };
  }
  if (!isObject(value)) {
    return { ok: false, error: { line: lineNumber, code: "invalid_line", param: null, message: `Line ${lineNumber} must be a JSON object ${shape}; found ${describeValue(value)}.` } };
  }
  return { ok: true, value };
}
