/**
 * OpenAI chat / embedding body -> Gemini GenerateContentRequest / EmbedContentRequest, for an OpenAI-dialect
 * Item served by the gemini Engine. As in the other direction, every field is translated, ignored for a
 * stated reason, or rejected with a TranslationError; `param` uses OpenAI's own convention for endpoint
 * errors (the body field path, e.g. `messages[2].content[0].image_url`).
 */
import type { RequestKind } from "../../core/types.ts";
import { asArray, asNumber, asObject, asString, compact, isObject, type JsonObject } from "./json-fields.ts";
import { NO_CONVERSATION, walkOpenAIMessages } from "./openai-messages.ts";
import { readToolCall } from "./tool-arguments.ts";
import { TranslationError } from "./translation-error.ts";

export function openAIToGeminiRequest(kind: RequestKind, body: JsonObject): JsonObject {
  if (kind === "chat") return toGenerateContentRequest(body);
  if (kind === "embedding") return toEmbedRequest(body);
  throw new TranslationError("Legacy text completions cannot be served by a Gemini model; use /v1/chat/completions.", null);
}

/**
 * Fields with no effect on the answer (streaming in a batch, client bookkeeping, OpenAI service options)
 * or that Gemini cannot be told: parallel_tool_calls=false cannot be enforced, Gemini may still call
 * several functions in one turn, and the client handles that as it would any multi-call answer.
 */
const IGNORED_CHAT_FIELDS = new Set([
  "model", "stream", "stream_options", "user", "metadata", "store", "service_tier", "parallel_tool_calls",
  "safety_identifier", "prompt_cache_key", "prompt_cache_retention",
]);
const CHAT_FIELDS = new Set([
  "messages", "temperature", "top_p", "top_k", "n", "max_tokens", "max_completion_tokens", "stop",
  "presence_penalty", "frequency_penalty", "seed", "logprobs", "top_logprobs", "response_format", "tools",
  "tool_choice", "reasoning_effort", "modalities",
]);

/** Google's documented mapping for its own OpenAI-compatible endpoint. */
const THINKING_BUDGETS: Record<string, number> = { none: 0, minimal: 0, low: 1024, medium: 8192, high: 24576 };

function toGenerateContentRequest(body: JsonObject): JsonObject {
  for (const [name, value] of Object.entries(body)) {
    if (value === undefined || value === null || IGNORED_CHAT_FIELDS.has(name)) continue;
    if (!CHAT_FIELDS.has(name)) throw new TranslationError(`${name} is not supported by Gemini models.`, name);
  }
  const modalities = asArray(body.modalities).map(String);
  if (modalities.some((modality) => modality !== "text")) throw new TranslationError("Gemini models served by spool answer with text only.", "modalities");
  const { contents, systemInstruction } = messagesToContents(body.messages);
  const stop = typeof body.stop === "string" ? [body.stop] : Array.isArray(body.stop) && body.stop.length > 0 ? body.stop : undefined;
  const effort = asString(body.reasoning_effort);
  if (effort !== undefined && !(effort in THINKING_BUDGETS)) throw new TranslationError(`reasoning_effort "${effort}" is not one of none, minimal, low, medium, high.`, "reasoning_effort");
  const generationConfig = compact({
    temperature: asNumber(body.temperature),
    topP: asNumber(body.top_p),
    topK: asNumber(body.top_k),
    candidateCount: asNumber(body.n),
    maxOutputTokens: asNumber(body.max_completion_tokens) ?? asNumber(body.max_tokens),
    stopSequences: stop,
    presencePenalty: asNumber(body.presence_penalty),
    frequencyPenalty: asNumber(body.frequency_penalty),
    seed: asNumber(body.seed),
    responseLogprobs: body.logprobs === true ? true : undefined,
    logprobs: body.logprobs === true ? asNumber(body.top_logprobs) : undefined,
    thinkingConfig: effort === undefined ? undefined : { thinkingBudget: THINKING_BUDGETS[effort] },
    ...responseFormatToConfig(body.response_format),
  });
  const declarations = functionDeclarations(body.tools);
  return compact({
    contents,
    systemInstruction,
    tools: declarations ? [{ functionDeclarations: declarations }] : undefined,
    toolConfig: toolConfigOf(body.tool_choice),
    generationConfig: Object.keys(generationConfig).length > 0 ? generationConfig : undefined,
  });
}

/**
 * System and developer messages all become the one systemInstruction, wherever they appear: Gemini has
 * no mid-conversation system turn. Consecutive tool messages become one user turn of functionResponse
 * parts, which is how Gemini expects the answers to one model turn's calls.
 */
function messagesToContents(messages: unknown): { contents: JsonObject[]; systemInstruction: JsonObject | undefined } {
  const system: JsonObject[] = [];
  const contents: JsonObject[] = [];
  const callNames = new Map<string, string>();
  walkOpenAIMessages(messages, {
    system: (message, path) => system.push(...textParts(message.content, `${path}.content`)),
    user: (message, path) => contents.push({ role: "user", parts: userParts(message.content, `${path}.content`) }),
    assistant: (message, path) => contents.push({ role: "model", parts: assistantParts(message, path, callNames) }),
    tools: (group) => contents.push({ role: "user", parts: group.map(({ message, path }) => functionResponsePart(message, path, callNames)) }),
  });
  if (contents.length === 0) throw new TranslationError(NO_CONVERSATION, "messages");
  return { contents, systemInstruction: system.length > 0 ? { parts: system } : undefined };
}

function textParts(content: unknown, path: string): JsonObject[] {
  if (typeof content === "string") return [{ text: content }];
  return asArray(content).map((part, index) => {
    const text = isObject(part) && part.type === "text" ? asString(part.text) : undefined;
    if (text === undefined) throw new TranslationError("Only text parts are allowed here.", `${path}[${index}]`);
    return { text };
  });
}

function userParts(content: unknown, path: string): JsonObject[] {
  if (typeof content === "string") return [{ text: content }];
  if (!Array.isArray(content)) throw new TranslationError("content must be a string or a list of parts.", path);
  return content.map((part, index) => userPart(part, `${path}[${index}]`));
}

const AUDIO_MIME: Record<string, string> = { wav: "audio/wav", mp3: "audio/mp3" };
const IMAGE_EXTENSIONS: Record<string, string> = { png: "image/png", jpg: "image/jpeg", jpeg: "image/jpeg", webp: "image/webp", gif: "image/gif", heic: "image/heic", heif: "image/heif" };

function userPart(part: unknown, path: string): JsonObject {
  const object = asObject(part) ?? {};
  if (object.type === "text") return { text: asString(object.text) ?? "" };
  if (object.type === "image_url") {
    const url = asString(asObject(object.image_url)?.url) ?? "";
    return dataUrlPart(url) ?? remoteImagePart(url, `${path}.image_url.url`);
  }
  if (object.type === "input_audio") {
    const audio = asObject(object.input_audio) ?? {};
    const mimeType = AUDIO_MIME[asString(audio.format) ?? ""];
    if (mimeType === undefined) throw new TranslationError("input_audio.format must be wav or mp3.", `${path}.input_audio.format`);
    return { inlineData: { mimeType, data: asString(audio.data) ?? "" } };
  }
  if (object.type === "file") {
    const fileData = asString(asObject(object.file)?.file_data);
    const inline = fileData === undefined ? null : dataUrlPart(fileData);
    if (inline) return inline;
    throw new TranslationError("file parts must carry file_data as a base64 data URL; OpenAI file ids cannot be read by Gemini.", `${path}.file`);
  }
  throw new TranslationError(`Content part type "${String(object.type)}" is not supported by Gemini models.`, `${path}.type`);
}

function dataUrlPart(url: string): JsonObject | null {
  const match = /^data:([^;,]+);base64,(.*)$/s.exec(url);
  return match ? { inlineData: { mimeType: match[1], data: match[2] } } : null;
}

/** Gemini fetches public http(s) URLs given as fileData, but needs their MIME type up front. */
function remoteImagePart(url: string, path: string): JsonObject {
  const extension = /^https?:\/\/[^?#]+\.([a-z0-9]+)(?:[?#].*)?$/i.exec(url)?.[1]?.toLowerCase();
  const mimeType = extension === undefined ? undefined : IMAGE_EXTENSIONS[extension];
  if (mimeType === undefined) {
    throw new TranslationError("Gemini needs an image's type: use a base64 data URL, or an http(s) URL ending in .png, .jpg, .jpeg, .webp, .gif, .heic or .heif.", path);
  }
  return { fileData: { fileUri: url, mimeType } };
}

function assistantParts(message: JsonObject, path: string, callNames: Map<string, string>): JsonObject[] {
  const parts: JsonObject[] = [];
  if (message.content != null) {
    const text = typeof message.content === "string" ? message.content : textParts(message.content, `${path}.content`).map((part) => part.text).join("");
    if (text !== "") parts.push({ text });
  }
  asArray(message.tool_calls).forEach((entry, index) => {
    const { id, name, args, call } = readToolCall(entry, `${path}.tool_calls[${index}]`);
    if (id !== undefined) callNames.set(id, name);
    // Gemini 3 rejects a history whose function calls lost their thought signature; replies carry it in
    // extra_content.google.thought_signature, Google's own OpenAI-compatible convention.
    const signature = asString(asObject(asObject(call.extra_content)?.google)?.thought_signature);
    parts.push(compact({ functionCall: { name, args }, thoughtSignature: signature }));
  });
  // A Gemini turn needs at least one part; an empty assistant message is an empty text.
  return parts.length > 0 ? parts : [{ text: "" }];
}

function functionResponsePart(message: JsonObject, path: string, callNames: Map<string, string>): JsonObject {
  const callId = asString(message.tool_call_id);
  const name = (callId !== undefined ? callNames.get(callId) : undefined) ?? asString(message.name);
  if (name === undefined) throw new TranslationError("This tool message answers no tool call of an earlier assistant message.", `${path}.tool_call_id`);
  const content = typeof message.content === "string" ? message.content : textParts(message.content, `${path}.content`).map((part) => part.text).join("");
  let response: JsonObject;
  try {
    const parsed: unknown = JSON.parse(content);
    // Gemini's functionResponse.response is a Struct: objects pass as they are, anything else is wrapped.
    response = isObject(parsed) ? parsed : { result: parsed };
  } catch {
    response = { result: content };
  }
  return { functionResponse: { name, response } };
}

function responseFormatToConfig(format: unknown): JsonObject {
  const object = asObject(format);
  if (!object || object.type === "text") return {};
  if (object.type === "json_object") return { responseMimeType: "application/json" };
  if (object.type === "json_schema") {
    const schema = asObject(object.json_schema)?.schema;
    return compact({ responseMimeType: "application/json", responseJsonSchema: schema });
  }
  throw new TranslationError(`response_format type "${String(object.type)}" is not supported by Gemini models.`, "response_format.type");
}

function functionDeclarations(tools: unknown): JsonObject[] | undefined {
  if (tools == null) return undefined;
  const declarations = asArray(tools).map((tool, index) => {
    const object = asObject(tool) ?? {};
    if (object.type !== "function") throw new TranslationError(`Tool type "${String(object.type)}" is not supported by Gemini models; only function tools are.`, `tools[${index}].type`);
    const fn = asObject(object.function) ?? {};
    const name = asString(fn.name);
    if (name === undefined) throw new TranslationError("A function tool needs a name.", `tools[${index}].function.name`);
    // parametersJsonSchema takes standard JSON Schema as OpenAI sends it; `parameters` would need
    // Gemini's OpenAPI subset.
    return compact({ name, description: asString(fn.description), parametersJsonSchema: asObject(fn.parameters) });
  });
  return declarations.length > 0 ? declarations : undefined;
}

function toolConfigOf(choice: unknown): JsonObject | undefined {
  if (choice == null) return undefined;
  if (choice === "auto") return { functionCallingConfig: { mode: "AUTO" } };
  if (choice === "none") return { functionCallingConfig: { mode: "NONE" } };
  if (choice === "required") return { functionCallingConfig: { mode: "ANY" } };
  const name = asString(asObject(asObject(choice)?.function)?.name);
  if (name !== undefined) return { functionCallingConfig: { mode: "ANY", allowedFunctionNames: [name] } };
  throw new TranslationError("tool_choice must be auto, none, required or a function.", "tool_choice");
}

const EMBEDDING_FIELDS = new Set(["model", "input", "dimensions", "encoding_format", "user"]);

/**
 * One input becomes an EmbedContentRequest; several become a BatchEmbedContentsRequest
 * (`{requests: [...]}`), which the gemini Engine sends to :batchEmbedContents in one call.
 * `encoding_format` is applied on the reply (geminiToOpenAIResponse).
 */
function toEmbedRequest(body: JsonObject): JsonObject {
  for (const [name, value] of Object.entries(body)) {
    if (value !== undefined && value !== null && !EMBEDDING_FIELDS.has(name)) throw new TranslationError(`${name} is not supported by Gemini embedding models.`, name);
  }
  const inputs = typeof body.input === "string" ? [body.input] : asArray(body.input);
  if (inputs.length === 0) throw new TranslationError("input must be a string or a non-empty list of strings.", "input");
  const texts = inputs.map((input, index) => {
    if (typeof input !== "string") throw new TranslationError("Gemini embedding models take text; token-id inputs cannot be translated.", `input[${index}]`);
    return input;
  });
  const outputDimensionality = asNumber(body.dimensions);
  const requests = texts.map((text) => compact({ content: { parts: [{ text }] }, outputDimensionality }));
  return requests.length === 1 && typeof body.input === "string" ? (requests[0] as JsonObject) : { requests };
}
