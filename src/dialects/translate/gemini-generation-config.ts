/**
 * Gemini `generationConfig` -> OpenAI sampling parameters and `response_format` (part of
 * geminiToOpenAIRequest). Fields are translated, ignored for a stated reason, or rejected by path.
 */
import { geminiSchemaToJsonSchema } from "./gemini-schema.ts";
import { asArray, asNumber, asObject, asString, compact, field, isObject, presentFields, type JsonObject } from "./json-fields.ts";
import { TranslationError } from "./translation-error.ts";

/** The `response_format` name spool gives a translated schema (OpenAI requires one; Gemini has none). */
export const RESPONSE_SCHEMA_NAME = "response";
/** Property that carries a `text/x.enum` answer inside the JSON object OpenAI-shaped engines must return. */
export const ENUM_VALUE_PROPERTY = "value";

const GENERATION_FIELDS = new Set([
  "temperature", "topP", "topK", "candidateCount", "maxOutputTokens", "stopSequences", "presencePenalty",
  "frequencyPenalty", "seed", "responseLogprobs", "logprobs", "responseMimeType", "responseSchema",
  "responseJsonSchema", "responseModalities", "thinkingConfig", "mediaResolution",
]);

/** `path` is where the config sits in the request, e.g. `request.generationConfig`. */
export function generationConfigToOpenAI(value: unknown, path: string): JsonObject {
  if (value == null) return {};
  if (!isObject(value)) throw new TranslationError("generationConfig must be an object.", path);
  for (const name of presentFields(value)) {
    if (!GENERATION_FIELDS.has(name)) throw new TranslationError(`generationConfig.${name} has no equivalent on this model's engine.`, `${path}.${name}`);
  }
  const modalities = asArray(field(value, "responseModalities")).map((modality) => String(modality).toUpperCase());
  const other = modalities.find((modality) => modality !== "TEXT");
  if (other !== undefined) {
    throw new TranslationError(`responseModalities ${other} is not available on this model's engine, which answers with text only.`, `${path}.responseModalities`);
  }
  const stop = field(value, "stopSequences");
  const logprobs = field(value, "responseLogprobs");
  // mediaResolution only sets how many tokens Gemini spends per image; other engines decide that themselves.
  return compact({
    temperature: asNumber(value.temperature),
    top_p: asNumber(field(value, "topP")),
    top_k: asNumber(field(value, "topK")),
    n: asNumber(field(value, "candidateCount")),
    max_tokens: asNumber(field(value, "maxOutputTokens")),
    stop: Array.isArray(stop) && stop.length > 0 ? stop : undefined,
    presence_penalty: asNumber(field(value, "presencePenalty")),
    frequency_penalty: asNumber(field(value, "frequencyPenalty")),
    seed: asNumber(value.seed),
    logprobs: typeof logprobs === "boolean" ? logprobs : undefined,
    top_logprobs: logprobs === true ? asNumber(value.logprobs) : undefined,
    reasoning_effort: reasoningEffortOf(field(value, "thinkingConfig")),
    response_format: responseFormatOf(value, path),
  });
}

/**
 * thinkingLevel maps to OpenAI's reasoning_effort (same scale). thinkingBudget is a token cap on hidden
 * reasoning with no OpenAI equivalent; an engine that does not think is within any budget, so it is not
 * an error. includeThoughts is honoured on the reply (reasoning text becomes `thought` parts).
 */
function reasoningEffortOf(thinkingConfig: unknown): string | undefined {
  const level = asString(field(asObject(thinkingConfig) ?? {}, "thinkingLevel"))?.toLowerCase();
  return level === undefined || level === "thinking_level_unspecified" ? undefined : level;
}

function responseFormatOf(config: JsonObject, path: string): JsonObject | undefined {
  const mimeType = asString(field(config, "responseMimeType"))?.toLowerCase();
  const openApiSchema = field(config, "responseSchema");
  const jsonSchema = field(config, "responseJsonSchema");
  if (openApiSchema != null && jsonSchema != null) {
    throw new TranslationError("responseSchema and responseJsonSchema are mutually exclusive; send one.", `${path}.responseJsonSchema`);
  }
  const schema = jsonSchema ?? (openApiSchema != null ? geminiSchemaToJsonSchema(openApiSchema, `${path}.responseSchema`) : undefined);
  if (mimeType === undefined || mimeType === "text/plain") {
    if (schema !== undefined) {
      const at = `${path}.${jsonSchema != null ? "responseJsonSchema" : "responseSchema"}`;
      throw new TranslationError("A response schema needs responseMimeType application/json (or text/x.enum).", at);
    }
    return undefined;
  }
  if (mimeType === "application/json") {
    if (schema === undefined) return { type: "json_object" };
    return { type: "json_schema", json_schema: { name: RESPONSE_SCHEMA_NAME, schema } };
  }
  if (mimeType === "text/x.enum") return enumResponseFormat(asObject(schema), path);
  throw new TranslationError(`responseMimeType ${mimeType} is not available on this model's engine (text/plain, application/json and text/x.enum are).`, `${path}.responseMimeType`);
}

/**
 * `text/x.enum` answers with one bare enum value. OpenAI-shaped engines can only be held to a schema in
 * JSON mode, and OpenAI's strict mode wants an object at the root, so the value is asked for as
 * `{"value": <enum>}` and unwrapped back to bare text on the reply (openAIToGeminiResponse).
 * Not `strict` elsewhere: strict mode rejects schemas with optional properties, which Gemini allows.
 */
function enumResponseFormat(schema: JsonObject | undefined, path: string): JsonObject {
  const values = schema?.enum;
  if (!Array.isArray(values) || values.length === 0) {
    throw new TranslationError("responseMimeType text/x.enum needs a responseSchema with an enum.", `${path}.responseSchema`);
  }
  const valueSchema = { type: "string", enum: values.filter((value) => value !== null) };
  return {
    type: "json_schema",
    json_schema: {
      name: RESPONSE_SCHEMA_NAME,
      strict: true,
      schema: { type: "object", properties: { [ENUM_VALUE_PROPERTY]: valueSchema }, required: [ENUM_VALUE_PROPERTY], additionalProperties: false },
    },
  };
}
