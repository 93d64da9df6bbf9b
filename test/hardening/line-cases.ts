/**
 * Bad batch input lines, one per kind of LineError each dialect's BatchFormat (and the shared line reader)
 * reports, with the code and field the error must name. OpenAI lines are run together in one failing
 * batch per endpoint (every bad line is listed with its number); Gemini lines in one batch per verb,
 * where each bad line becomes an error result in input order naming its field.
 */
import { LIMITS } from "./corpus-app.ts";

export interface LineCase {
  name: string;
  line: string | Buffer;
  /** OpenAI: the LineError code. Gemini: not on the wire (documented here for the reader). */
  code: string;
  /** The field the error names (OpenAI `param`, Gemini first field violation); null for none. */
  param: string | null;
  /** Gemini: a fragment of the error message, for errors that name no field. */
  message?: string;
}

/** Deep enough to matter, short enough to stay under maxLineBytes (which is checked first). */
const DEEP = 5_000;
const nested = `${"[".repeat(DEEP)}${"]".repeat(DEEP)}`;

const openAILine = (body: Record<string, unknown>, fields: Record<string, unknown> = {}): string =>
  JSON.stringify({ custom_id: `c-${Math.random().toString(36).slice(2)}`, method: "POST", url: "/v1/chat/completions", body, ...fields });
const chat = (extra: Record<string, unknown> = {}): Record<string, unknown> => ({ model: "gpt-test", messages: [{ role: "user", content: "hi" }], ...extra });

/** Line 1 of the OpenAI chat file: valid, and the first id and model the cross-line checks compare with. */
export const OPENAI_CHAT_FIRST = JSON.stringify({ custom_id: "good-1", method: "POST", url: "/v1/chat/completions", body: chat() });

export const OPENAI_CHAT_LINES: LineCase[] = [
  { name: "not JSON", line: "{broken", code: "invalid_json_line", param: null },
  { name: "JSON with trailing garbage", line: '{"custom_id":"a"} x', code: "invalid_json_line", param: null },
  { name: "a JSON array", line: "[1,2]", code: "invalid_line", param: null },
  { name: "a JSON string", line: '"just text"', code: "invalid_line", param: null },
  { name: "JSON null", line: "null", code: "invalid_line", param: null },
  { name: "no custom_id", line: JSON.stringify({ method: "POST", url: "/v1/chat/completions", body: chat() }), code: "missing_required_parameter", param: "custom_id" },
  { name: "a numeric custom_id", line: openAILine(chat(), { custom_id: 5 }), code: "invalid_type", param: "custom_id" },
  { name: "an empty custom_id", line: openAILine(chat(), { custom_id: "" }), code: "invalid_value", param: "custom_id" },
  { name: "method GET", line: openAILine(chat(), { method: "GET" }), code: "invalid_value", param: "method" },
  { name: "no method", line: openAILine(chat(), { method: undefined }), code: "missing_required_parameter", param: "method" },
  { name: "another endpoint's url", line: openAILine(chat(), { url: "/v1/embeddings" }), code: "invalid_url", param: "url" },
  { name: "no url", line: openAILine(chat(), { url: undefined }), code: "missing_required_parameter", param: "url" },
  { name: "a string body", line: openAILine(chat(), { body: "text" }), code: "invalid_type", param: "body" },
  { name: "no body", line: openAILine(chat(), { body: undefined }), code: "missing_required_parameter", param: "body" },
  { name: "no model", line: openAILine(chat({ model: undefined })), code: "invalid_request", param: "body.model" },
  { name: "a numeric model", line: openAILine(chat({ model: 7 })), code: "invalid_type", param: "body.model" },
  { name: "an unknown model", line: openAILine(chat({ model: "nope" })), code: "model_not_found", param: "body.model" },
  { name: "an embeddings-only model", line: openAILine(chat({ model: "embed-test" })), code: "unsupported_model", param: "body.model" },
  { name: "stream: true", line: openAILine(chat({ stream: true })), code: "streaming_unsupported", param: "body.stream" },
  { name: "no messages", line: openAILine(chat({ messages: undefined })), code: "invalid_request", param: "body.messages" },
  { name: "messages as a string", line: openAILine(chat({ messages: "hi" })), code: "invalid_type", param: "body.messages" },
  { name: "no message", line: openAILine(chat({ messages: [] })), code: "invalid_value", param: "body.messages" },
  { name: "a custom_id used on line 1", line: openAILine(chat(), { custom_id: "good-1" }), code: "duplicate_custom_id", param: "custom_id" },
  { name: "a second model in the file", line: openAILine(chat({ model: "gpt-other" })), code: "model_mismatch", param: "body.model" },
  { name: "JSON nested 5,000 levels", line: `{"custom_id":"deep","method":"POST","url":"/v1/chat/completions","body":{"model":"gpt-test","messages":${nested}}}`, code: "json_too_deep", param: "body.messages[0][0][0][0][0][0]" },
  { name: "a line over maxLineBytes", line: openAILine(chat({ messages: [{ role: "user", content: "x".repeat(LIMITS.maxLineBytes) }] })), code: "line_too_long", param: null },
  // Bytes that are not UTF-8 are refused at upload now (file-cases.ts), before any line is validated.
];

export const OPENAI_EMBEDDING_FIRST = JSON.stringify({ custom_id: "e-1", method: "POST", url: "/v1/embeddings", body: { model: "embed-test", input: "fine" } });
const embedding = (input: unknown, model = "embed-test"): string => JSON.stringify({ custom_id: `e-${Math.random().toString(36).slice(2)}`, method: "POST", url: "/v1/embeddings", body: { model, input } });

export const OPENAI_EMBEDDING_LINES: LineCase[] = [
  { name: "no input", line: embedding(undefined), code: "invalid_request", param: "body.input" },
  { name: "an empty input string", line: embedding(""), code: "invalid_value", param: "body.input" },
  { name: "an empty input list", line: embedding([]), code: "invalid_value", param: "body.input" },
  { name: "a numeric input", line: embedding(5), code: "invalid_type", param: "body.input" },
  { name: "strings mixed with token ids", line: embedding(["a", 1]), code: "invalid_type", param: "body.input" },
  { name: "an empty token array", line: embedding([[1, 2], []]), code: "invalid_type", param: "body.input" },
  { name: "a chat-only model", line: embedding("x", "chat-only"), code: "unsupported_model", param: "body.model" },
];

export const OPENAI_COMPLETION_FIRST = JSON.stringify({ custom_id: "p-1", method: "POST", url: "/v1/completions", body: { model: "gpt-test", prompt: "fine" } });
export const OPENAI_COMPLETION_LINES: LineCase[] = [
  { name: "no prompt", line: JSON.stringify({ custom_id: "p-2", method: "POST", url: "/v1/completions", body: { model: "gpt-test" } }), code: "invalid_request", param: "body.prompt" },
  { name: "an object prompt", line: JSON.stringify({ custom_id: "p-3", method: "POST", url: "/v1/completions", body: { model: "gpt-test", prompt: { a: 1 } } }), code: "invalid_type", param: "body.prompt" },
];

const contents = [{ role: "user", parts: [{ text: "hi" }] }];
const geminiLine = (request: unknown, fields: Record<string, unknown> = {}): string => JSON.stringify({ key: `k-${Math.random().toString(36).slice(2)}`, request, ...fields });
const generate = (extra: Record<string, unknown> = {}): Record<string, unknown> => ({ contents, ...extra });

export const GEMINI_GENERATE_FIRST = JSON.stringify({ key: "good-1", request: generate() });

export const GEMINI_GENERATE_LINES: LineCase[] = [
  { name: "not JSON", line: "{broken", code: "invalid_json_line", param: null, message: "is not valid JSON" },
  { name: "a JSON array", line: "[1]", code: "invalid_line", param: null, message: "must be a JSON object" },
  { name: "metadata that is a string", line: geminiLine(generate(), { metadata: "m" }), code: "invalid_type", param: "metadata" },
  { name: "a numeric key", line: geminiLine(generate(), { key: 5 }), code: "invalid_key", param: "key" },
  { name: "an empty key", line: geminiLine(generate(), { key: "" }), code: "invalid_key", param: "key" },
  { name: "a numeric metadata.key", line: JSON.stringify({ request: generate(), metadata: { key: 5 } }), code: "invalid_key", param: "metadata.key" },
  { name: "contents beside the request", line: geminiLine(generate(), { contents }), code: "unknown_field", param: "contents" },
  { name: "no request", line: JSON.stringify({ key: "no-request" }), code: "missing_request", param: "request" },
  { name: "a string request", line: geminiLine("hi"), code: "invalid_type", param: "request" },
  { name: "the SDK's config object", line: geminiLine(generate({ config: { temperature: 1 } })), code: "sdk_config_shape", param: "request.config" },
  { name: "an unknown request field", line: geminiLine(generate({ foo: 1 })), code: "unknown_field", param: "request.foo" },
  { name: "an unknown model", line: geminiLine(generate({ model: "models/nope" })), code: "model_not_found", param: "request.model" },
  { name: "a numeric model", line: geminiLine(generate({ model: 7 })), code: "invalid_type", param: "request.model" },
  { name: "an embeddings-only model", line: geminiLine(generate({ model: "embed-test" })), code: "unsupported_model", param: "request.model" },
  { name: "no contents", line: geminiLine({}), code: "missing_contents", param: "request.contents" },
  { name: "contents as a string", line: geminiLine({ contents: "hi" }), code: "invalid_type", param: "request.contents" },
  { name: "empty contents", line: geminiLine({ contents: [] }), code: "invalid_value", param: "request.contents" },
  { name: "a content that is a number", line: geminiLine({ contents: [1] }), code: "invalid_type", param: "request.contents[0]" },
  { name: "role system", line: geminiLine({ contents: [{ role: "system", parts: [{ text: "x" }] }] }), code: "invalid_value", param: "request.contents[0].role" },
  { name: "no parts", line: geminiLine({ contents: [{ role: "user" }] }), code: "missing_parts", param: "request.contents[0].parts" },
  { name: "empty parts", line: geminiLine({ contents: [{ parts: [] }] }), code: "invalid_value", param: "request.contents[0].parts" },
  { name: "a part that is a string", line: geminiLine({ contents: [{ parts: ["x"] }] }), code: "invalid_type", param: "request.contents[0].parts[0]" },
  { name: "an unknown part field", line: geminiLine({ contents: [{ parts: [{ foo: "x" }] }] }), code: "unknown_field", param: "request.contents[0].parts[0].foo" },
  { name: "numeric text", line: geminiLine({ contents: [{ parts: [{ text: 5 }] }] }), code: "invalid_type", param: "request.contents[0].parts[0].text" },
  { name: "a string systemInstruction", line: geminiLine(generate({ systemInstruction: "be brief" })), code: "invalid_type", param: "request.systemInstruction" },
  { name: "a string generationConfig", line: geminiLine(generate({ generationConfig: "hot" })), code: "invalid_type", param: "request.generationConfig" },
  { name: "both response schemas", line: geminiLine(generate({ generationConfig: { responseSchema: { type: "STRING" }, responseJsonSchema: { type: "string" } } })), code: "conflicting_fields", param: "request.generationConfig.responseJsonSchema" },
  { name: "a schema with text/plain", line: geminiLine(generate({ generationConfig: { responseMimeType: "text/plain", responseJsonSchema: { type: "string" } } })), code: "invalid_value", param: "request.generationConfig.responseMimeType" },
  { name: "tools inside generationConfig", line: geminiLine(generate({ generationConfig: { tools: [] } })), code: "misplaced_field", param: "request.generationConfig.tools" },
  { name: "a key used on line 1", line: geminiLine(generate(), { key: "good-1" }), code: "duplicate_key", param: "key" },
  {
    name: "a response schema nested 5,000 levels",
    line: `{"key":"deep","request":{"contents":[{"parts":[{"text":"x"}]}],"generationConfig":{"responseJsonSchema":{"items":${nested}}}}}`,
    code: "json_too_deep",
    param: "request.generationConfig.responseJsonSchema.items[0][0][0][0]",
  },
  { name: "a line over maxLineBytes", line: geminiLine({ contents: [{ parts: [{ text: "x".repeat(LIMITS.maxLineBytes) }] }] }), code: "line_too_long", param: null, message: "bytes long" },
  { name: "bytes that are not UTF-8", line: Buffer.from([0x7b, 0xff, 0xfe, 0x7d]), code: "invalid_utf8", param: null, message: "not valid UTF-8" },
];

export const GEMINI_EMBED_FIRST = JSON.stringify({ key: "e-good", request: { content: { parts: [{ text: "fine" }] } } });
export const GEMINI_EMBED_LINES: LineCase[] = [
  { name: "no content", line: geminiLine({}), code: "missing_content", param: "request.content" },
  { name: "content without text", line: geminiLine({ content: { parts: [{ inlineData: { data: "", mimeType: "image/png" } }] } }), code: "invalid_value", param: "request.content.parts" },
  { name: "an unknown taskType", line: geminiLine({ content: { parts: [{ text: "x" }] }, taskType: "GUESS" }), code: "invalid_value", param: "request.taskType" },
  { name: "outputDimensionality 0", line: geminiLine({ content: { parts: [{ text: "x" }] }, outputDimensionality: 0 }), code: "invalid_value", param: "request.outputDimensionality" },
  { name: "contents (plural)", line: geminiLine({ contents }), code: "unknown_field", param: "request.contents" },
  { name: "the SDK's config object", line: geminiLine({ content: { parts: [{ text: "x" }] }, config: {} }), code: "sdk_config_shape", param: "request.config" },
];

/** The lines of a file: the first (valid) line, then each case's line, one per line. */
export function fileOf(first: string, cases: readonly LineCase[]): Buffer {
  const parts: Buffer[] = [Buffer.from(`${first}\n`)];
  for (const each of cases) parts.push(typeof each.line === "string" ? Buffer.from(`${each.line}\n`) : Buffer.concat([each.line, Buffer.from("\n")]));
  return Buffer.concat(parts);
}
