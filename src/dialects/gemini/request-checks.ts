/**
 * Checks of one GenerateContentRequest / EmbedContentRequest, shared by JSONL lines (batch-format.ts) and
 * inline batch requests (batches-routes.ts). Every problem names its field path as the client wrote the
 * request (`request.contents[0].parts`); the caller prefixes the line or the inline position.
 *
 * Deliberately shallow beyond the structure every engine needs: the translation layer rejects, per Item,
 * fields a given engine cannot honour, so a field valid for a gemini-engine model is not refused here.
 */
import type { ModelCatalog } from "../../core/model-catalog.ts";
import { stripModelsPrefix } from "./wire.ts";
import type { RequestKind } from "../../core/types.ts";
import { asInt64, describe, field, isObject, type Json } from "./wire.ts";

export interface RequestProblem {
  code: string;
  /** Field path, e.g. `request.contents[0].role`. */
  param: string;
  message: string;
}

const MAX_PROBLEMS_PER_LIST = 20;

const GENERATE_FIELDS = new Set([
  "model", "contents", "systemInstruction", "tools", "toolConfig", "safetySettings", "generationConfig", "cachedContent", "labels", "serviceTier", "store",
]);
const EMBED_FIELDS = new Set(["model", "content", "taskType", "title", "outputDimensionality"]);
const TASK_TYPES = new Set([
  "TASK_TYPE_UNSPECIFIED", "RETRIEVAL_QUERY", "RETRIEVAL_DOCUMENT", "SEMANTIC_SIMILARITY", "CLASSIFICATION", "CLUSTERING",
  "QUESTION_ANSWERING", "FACT_VERIFICATION", "CODE_RETRIEVAL_QUERY",
]);
const PART_FIELDS = new Set([
  "text", "inlineData", "fileData", "functionCall", "functionResponse", "executableCode", "codeExecutionResult", "thought", "thoughtSignature",
  "videoMetadata", "partMetadata", "mediaResolution",
]);
const camel = (name: string): string => name.replace(/_([a-z0-9])/g, (_m, letter: string) => letter.toUpperCase());

/** What the SDK's `config` shape holds, and where each field goes in the REST request. */
const SDK_CONFIG_HINT =
  "'config' is the genai SDK's GenerateContentConfig, not part of the REST request that batch files hold: put " +
  "sampling and output fields (temperature, maxOutputTokens, responseMimeType, responseSchema, responseJsonSchema, thinkingConfig, ...) " +
  "in 'generationConfig', and systemInstruction, tools, toolConfig and safetySettings directly in 'request'.";
const SDK_EMBED_CONFIG_HINT =
  "'config' is the genai SDK's EmbedContentConfig, not part of the REST request: put taskType, title and outputDimensionality directly in 'request'.";

export interface CheckedRequest {
  problems: RequestProblem[];
  /** The model the request runs on (its own `model`, else the batch's), or null when unusable. */
  model: string | null;
}

export function checkRequest(request: unknown, path: string, kind: RequestKind, batchModel: string | null, catalog: ModelCatalog): CheckedRequest {
  const problems: RequestProblem[] = [];
  const add = (code: string, param: string, message: string): void => {
    problems.push({ code, param, message: `${param}: ${message}` });
  };
  if (request === undefined || request === null) {
    const what = kind === "embedding" ? "an EmbedContentRequest ({\"content\": {\"parts\": [{\"text\": ...}]}})" : "a GenerateContentRequest ({\"contents\": [...]})";
    add("missing_request", path, `is required: ${what}.`);
    return { problems, model: null };
  }
  if (!isObject(request)) {
    add("invalid_type", path, `must be an object, found ${describe(request)}.`);
    return { problems, model: null };
  }
  const known = kind === "embedding" ? EMBED_FIELDS : GENERATE_FIELDS;
  for (const name of Object.keys(request)) {
    if (known.has(camel(name)) || request[name] === undefined) continue;
    if (name === "config") add("sdk_config_shape", `${path}.config`, kind === "embedding" ? SDK_EMBED_CONFIG_HINT : SDK_CONFIG_HINT);
    else if (kind === "embedding" && camel(name) === "contents") add("unknown_field", `${path}.${name}`, "an embedding request takes one 'content' (a Content object), not 'contents'.");
    else add("unknown_field", `${path}.${name}`, `unknown field "${name}"; a ${kind === "embedding" ? "EmbedContentRequest" : "GenerateContentRequest"} has ${[...known].join(", ")}.`);
  }
  const model = checkModel(field(request, "model"), `${path}.model`, kind, batchModel, catalog, add);
  if (kind === "embedding") checkEmbed(request, path, add);
  else checkGenerate(request, path, add);
  return { problems, model };
}

type Add = (code: string, param: string, message: string) => void;

function checkModel(value: unknown, param: string, kind: RequestKind, batchModel: string | null, catalog: ModelCatalog, add: Add): string | null {
  if (value === undefined || value === null || value === "") return batchModel;
  if (typeof value !== "string") {
    add("invalid_type", param, `must be a model name string, found ${describe(value)}.`);
    return null;
  }
  const name = stripModelsPrefix(value);
  const config = catalog.get(name);
  if (!config) {
    add("model_not_found", param, catalog.unknownModelMessage(name));
    return null;
  }
  if (!catalog.serves(config, kind)) {
    add("unsupported_model", param, `model '${name}' does not serve ${kind === "embedding" ? "embeddings" : "content generation"}.`);
    return null;
  }
  return config.name;
}

function checkGenerate(request: Json, path: string, add: Add): void {
  const contents = field(request, "contents");
  if (contents === undefined || contents === null) {
    add("missing_contents", `${path}.contents`, 'is required: a non-empty list of Content objects like [{"role": "user", "parts": [{"text": "..."}]}].');
  } else if (!Array.isArray(contents)) {
    const hint = typeof contents === "string" ? ' (a plain string is the SDK shortcut; in REST write [{"parts": [{"text": "..."}]}])' : "";
    add("invalid_type", `${path}.contents`, `must be a list of Content objects, found ${describe(contents)}${hint}.`);
  } else if (contents.length === 0) {
    add("invalid_value", `${path}.contents`, "must not be empty.");
  } else {
    let reported = 0;
    for (let i = 0; i < contents.length && reported < MAX_PROBLEMS_PER_LIST; i += 1) {
      if (!checkContent(contents[i], `${path}.contents[${i}]`, true, add)) reported += 1;
    }
  }
  const system = field(request, "systemInstruction");
  if (system !== undefined && system !== null) {
    if (typeof system === "string") {
      add("invalid_type", `${path}.systemInstruction`, 'must be a Content object like {"parts": [{"text": "..."}]}, not a string (the string form is the SDK shortcut).');
    } else checkContent(system, `${path}.systemInstruction`, false, add);
  }
  const config = field(request, "generationConfig");
  if (config !== undefined && config !== null) {
    if (!isObject(config)) add("invalid_type", `${path}.generationConfig`, `must be an object, found ${describe(config)}.`);
    else checkGenerationConfig(config, `${path}.generationConfig`, add);
  }
}

/** Returns false when it reported a problem. */
function checkContent(content: unknown, path: string, checkRole: boolean, add: Add): boolean {
  if (!isObject(content)) {
    add("invalid_type", path, `must be a Content object with 'parts', found ${describe(content)}.`);
    return false;
  }
  let ok = true;
  const role = content.role;
  if (checkRole && role !== undefined && role !== null && role !== "user" && role !== "model") {
    add("invalid_value", `${path}.role`, `must be "user" or "model", found ${JSON.stringify(role)}.`);
    ok = false;
  }
  const parts = content.parts;
  if (!Array.isArray(parts) || parts.length === 0) {
    add(parts === undefined ? "missing_parts" : "invalid_value", `${path}.parts`, parts === undefined ? 'is required: a non-empty list of parts like [{"text": "..."}].' : `must be a non-empty list of parts, found ${Array.isArray(parts) ? "an empty list" : describe(parts)}.`);
    return false;
  }
  let reported = 0;
  for (let i = 0; i < parts.length && reported < MAX_PROBLEMS_PER_LIST; i += 1) {
    const part: unknown = parts[i];
    const partPath = `${path}.parts[${i}]`;
    if (!isObject(part)) {
      add("invalid_type", partPath, `must be a Part object like {"text": "..."}, found ${describe(part)}.`);
      reported += 1;
      continue;
    }
    const names = Object.keys(part).map(camel);
    const unknown = names.filter((name) => !PART_FIELDS.has(name));
    if (unknown.length > 0) {
      add("unknown_field", `${partPath}.${unknown[0]}`, `unknown field "${unknown[0]}"; a Part holds one of text, inlineData, fileData, functionCall, functionResponse, executableCode, codeExecutionResult.`);
      reported += 1;
    } else if (part.text !== undefined && typeof part.text !== "string") {
      add("invalid_type", `${partPath}.text`, `must be a string, found ${describe(part.text)}.`);
      reported += 1;
    }
  }
  return ok && reported === 0;
}

function checkGenerationConfig(config: Json, path: string, add: Add): void {
  const schema = field(config, "responseSchema");
  const jsonSchema = field(config, "responseJsonSchema");
  const has = (value: unknown): boolean => value !== undefined && value !== null;
  if (has(schema) && has(jsonSchema)) {
    add("conflicting_fields", `${path}.responseJsonSchema`, "responseSchema and responseJsonSchema are mutually exclusive: keep responseJsonSchema (standard JSON Schema) or responseSchema (OpenAPI subset), not both.");
  }
  const mimeType = field(config, "responseMimeType");
  if ((has(schema) || has(jsonSchema)) && typeof mimeType === "string" && mimeType !== "application/json" && mimeType !== "text/x.enum") {
    add("invalid_value", `${path}.responseMimeType`, `a response schema needs responseMimeType "application/json" (or "text/x.enum"), found ${JSON.stringify(mimeType)}.`);
  }
  for (const name of ["systemInstruction", "tools", "safetySettings", "toolConfig"]) {
    if (has(field(config, name))) add("misplaced_field", `${path}.${name}`, `${name} belongs directly in the request, not in generationConfig.`);
  }
}

function checkEmbed(request: Json, path: string, add: Add): void {
  const content = field(request, "content");
  if (content === undefined || content === null) {
    if (field(request, "contents") === undefined) add("missing_content", `${path}.content`, 'is required: a Content object like {"parts": [{"text": "..."}]}.');
  } else if (checkContent(content, `${path}.content`, false, add) && isObject(content) && Array.isArray(content.parts)) {
    const hasText = content.parts.some((part) => isObject(part) && typeof part.text === "string" && part.text.length > 0);
    if (!hasText) add("invalid_value", `${path}.content.parts`, "must contain at least one non-empty text part (only text is embedded).");
  }
  const taskType = field(request, "taskType");
  if (taskType !== undefined && taskType !== null && (typeof taskType !== "string" || !TASK_TYPES.has(taskType))) {
    add("invalid_value", `${path}.taskType`, `must be one of ${[...TASK_TYPES].slice(1).join(", ")}; found ${JSON.stringify(taskType)}.`);
  }
  const dimension = field(request, "outputDimensionality");
  if (dimension !== undefined && dimension !== null) {
    const value = asInt64(dimension);
    if (value === null || value < 1) add("invalid_value", `${path}.outputDimensionality`, `must be a positive integer, found ${JSON.stringify(dimension)}.`);
  }
}
