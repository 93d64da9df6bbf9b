/** OpenAI tool calls of an assistant message, read for the dialects that carry calls as objects. */
import { asObject, asString, isObject, type JsonObject } from "./json-fields.ts";
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

/** One entry of an assistant message's `tool_calls`: its id, the function's name and parsed arguments. */
export function readToolCall(call: unknown, path: string): { id: string | undefined; name: string; args: JsonObject; call: JsonObject } {
  const object = asObject(call) ?? {};
  const fn = asObject(object.function) ?? {};
  const name = asString(fn.name);
  if (name === undefined) throw new TranslationError("A tool call needs function.name.", `${path}.function.name`);
  return { id: asString(object.id), name, args: parseToolArguments(fn.arguments, `${path}.function.arguments`), call: object };
}
