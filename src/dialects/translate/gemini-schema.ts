/**
 * Gemini `responseSchema` / function `parameters` (an OpenAPI 3.0 subset: upper-case `type`, `nullable`,
 * `propertyOrdering`, int64 limits as strings) to standard JSON Schema, which OpenAI-shaped engines take in
 * `response_format.json_schema.schema` and `tools[].function.parameters`.
 *
 * Unknown keywords are rejected rather than dropped: a schema keyword is a constraint on the answer, and
 * silently losing one would return output the client's parser was told could not happen.
 */
import { asArray, asNumber, asObject, asString, camelCase, isObject, type JsonObject } from "./json-fields.ts";
import { TranslationError } from "./translation-error.ts";

const TYPES: Record<string, string> = {
  STRING: "string",
  NUMBER: "number",
  INTEGER: "integer",
  BOOLEAN: "boolean",
  ARRAY: "array",
  OBJECT: "object",
  NULL: "null",
};

/** Keywords copied as they are (same meaning in both). */
const SAME = new Set(["format", "title", "description", "pattern", "minimum", "maximum", "default"]);
/** int64 keywords that protobuf JSON writes as strings. */
const COUNTS = new Set(["maxItems", "minItems", "minLength", "maxLength", "minProperties", "maxProperties"]);

export function geminiSchemaToJsonSchema(schema: unknown, path: string): JsonObject {
  if (!isObject(schema)) throw new TranslationError(`${path} must be a Schema object.`, path);
  const result: JsonObject = {};
  let type: string | undefined;
  let nullable = false;
  let ordering: string[] | undefined;
  for (const [rawKey, value] of Object.entries(schema)) {
    if (value === undefined || value === null) continue;
    const key = camelCase(rawKey);
    const at = `${path}.${key}`;
    if (key === "type") {
      const name = asString(value)?.toUpperCase();
      if (name === "TYPE_UNSPECIFIED") continue;
      type = name === undefined ? undefined : TYPES[name];
      if (type === undefined) throw new TranslationError(`${at} must be one of ${Object.keys(TYPES).join(", ")}.`, at);
    } else if (key === "nullable") {
      nullable = value === true;
    } else if (key === "propertyOrdering") {
      ordering = asArray(value).filter((name): name is string => typeof name === "string");
    } else if (key === "properties") {
      const properties = asObject(value);
      if (!properties) throw new TranslationError(`${at} must be an object of Schemas.`, at);
      // Property names are the client's own keys: never case-converted.
      result.properties = Object.fromEntries(
        Object.entries(properties).map(([name, property]) => [name, geminiSchemaToJsonSchema(property, `${at}.${name}`)]),
      );
    } else if (key === "items") {
      result.items = geminiSchemaToJsonSchema(value, at);
    } else if (key === "anyOf") {
      result.anyOf = asArray(value).map((option, index) => geminiSchemaToJsonSchema(option, `${at}[${index}]`));
    } else if (key === "required" || key === "enum") {
      result[key] = asArray(value);
    } else if (key === "example") {
      result.examples = [value];
    } else if (COUNTS.has(key)) {
      const count = asNumber(value);
      if (count === undefined) throw new TranslationError(`${at} must be an integer.`, at);
      result[key] = count;
    } else if (SAME.has(key)) {
      result[key] = value;
    } else {
      throw new TranslationError(`${at}: the Schema keyword "${rawKey}" cannot be translated to JSON Schema.`, at);
    }
  }
  if (ordering && isObject(result.properties)) result.properties = orderProperties(result.properties, ordering);
  if (type !== undefined) result.type = nullable && type !== "null" ? [type, "null"] : type;
  if (nullable) {
    if (Array.isArray(result.enum) && !result.enum.includes(null)) result.enum = [...result.enum, null];
    if (type === undefined && Array.isArray(result.anyOf)) result.anyOf = [...result.anyOf, { type: "null" }];
  }
  return result;
}

/**
 * JSON Schema has no `propertyOrdering`; the order of `properties` is the only hint OpenAI-shaped engines
 * use (they generate keys in schema order), so the properties are re-inserted in the requested order.
 */
function orderProperties(properties: JsonObject, ordering: string[]): JsonObject {
  const ordered: JsonObject = {};
  for (const name of ordering) if (name in properties) ordered[name] = properties[name];
  for (const [name, value] of Object.entries(properties)) if (!(name in ordered)) ordered[name] = value;
  return ordered;
}
