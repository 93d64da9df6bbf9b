/** OpenAI tool-call arguments (a JSON text, sometimes already an object) as the object other dialects carry. */
import { asString, isObject, type JsonObject } from "./json-fields.ts";
import { TranslationError } from "./translation-error.ts";

/** An empty text is `{}`; anything that is not a JSON object is refused naming `path`. */
export function parseToolArguments(raw: unknown, path: string): JsonObject {
  if (isObject(raw)) return raw;
  const text = asString(raw) ?? "";
  if (text.trim() === "") return {};
  try {
    const parsed: unknown = JSON.parse(text);
    if (isObject(parsed)) return parsed;
  } catch {
    // reported below
  }
  throw new TranslationError("Tool call arguments must be a JSON object.", path);
}
