/**
 * OpenAI chat body -> Anthropic Messages request, for an OpenAI-dialect Item (or, through this shape, a
 * Gemini one) served by the `anthropic` Engine. Every field is translated, ignored for a stated reason, or
 * rejected naming its path in OpenAI's convention (`messages[2].content[0].image_url`):
 * - `max_tokens` is required by Anthropic: max_completion_tokens, else max_tokens, else DEFAULT_MAX_TOKENS;
 * - temperature above 1 is rejected (Anthropic's range is 0..1; rescaling would change the sampling the
 *   client asked for), as are n > 1, logprobs, penalties and `json_object` (Anthropic has structured output
 *   with a schema, not a bare JSON mode);
 * - `seed` is ignored (Anthropic offers no seeding; OpenAI documents it as best effort), as are `store`,
 *   `service_tier`, `prompt_cache_key`, `safety_identifier` and streaming options.
 */
import type { RequestKind } from "../../core/types.ts";
import { asArray, asNumber, asObject, asString, compact, isObject, type JsonObject } from "./json-fields.ts";
import { NO_CONVERSATION, walkOpenAIMessages } from "./openai-messages.ts";
import { readToolCall } from "./tool-arguments.ts";
import { TranslationError } from "./translation-error.ts";

/** The answer length when an OpenAI request names none (Anthropic requires one). */
export const DEFAULT_MAX_TOKENS = 4096;

const IGNORED_FIELDS = new Set([
  "model", "stream", "stream_options", "store", "metadata", "service_tier", "seed", "prompt_cache_key", "prompt_cache_retention", "safety_identifier",
]);
const FIELDS = new Set([
  "messages", "max_tokens", "max_completion_tokens", "temperature", "top_p", "top_k", "stop", "user", "tools", "tool_choice", "parallel_tool_calls",
  "response_format", "reasoning_effort", "n", "logprobs", "top_logprobs", "presence_penalty", "frequency_penalty", "modalities",
]);

export function openAIToAnthropicRequest(kind: RequestKind, body: JsonObject): JsonObject {
  if (kind !== "chat") throw new TranslationError(`Anthropic models serve messages only; ${kind === "embedding" ? "embeddings" : "legacy text completions"} cannot run on them.`, null);
  for (const [name, value] of Object.entries(body)) {
    if (value === undefined || value === null || IGNORED_FIELDS.has(name)) continue;
    if (!FIELDS.has(name)) throw new TranslationError(`${name} is not supported by Anthropic models.`, name);
  }
  rejectUnexpressible(body);
  const { system, messages } = toMessages(body.messages);
  const temperature = asNumber(body.temperature);
  if (temperature !== undefined && temperature > 1) throw new TranslationError(`temperature ${temperature} is above 1, the most Anthropic models accept.`, "temperature");
  const stop = typeof body.stop === "string" ? [body.stop] : asArray(body.stop).filter((each): each is string => typeof each === "string");
  return compact({
    max_tokens: asNumber(body.max_completion_tokens) ?? asNumber(body.max_tokens) ?? DEFAULT_MAX_TOKENS,
    messages,
    system,
    temperature,
    top_p: asNumber(body.top_p),
    top_k: asNumber(body.top_k),
    stop_sequences: stop.length > 0 ? stop : undefined,
    metadata: typeof body.user === "string" ? { user_id: body.user } : undefined,
    tools: toolsOf(body.tools),
    tool_choice: toolChoiceOf(body.tool_choice, body.parallel_tool_calls),
    output_config: outputConfigOf(body.response_format, body.reasoning_effort),
  });
}

function rejectUnexpressible(body: JsonObject): void {
  const n = asNumber(body.n);
  if (n !== undefined && n !== 1) throw new TranslationError("n > 1 is not supported by Anthropic models (one answer per request).", "n");
  if (body.logprobs === true) throw new TranslationError("logprobs are not available from Anthropic models.", "logprobs");
  for (const name of ["presence_penalty", "frequency_penalty"]) {
    const value = asNumber(body[name]);
    if (value !== undefined && value !== 0) throw new TranslationError(`${name} is not supported by Anthropic models.`, name);
  }
  if (asArray(body.modalities).some((modality) => modality !== "text")) throw new TranslationError("Anthropic models answer with text only.", "modalities");
}

/**
 * System and developer messages become the one system prompt, wherever they appear; consecutive tool
 * messages become one user turn of tool_result blocks, the shape Anthropic expects after tool_use.
 */
function toMessages(list: unknown): { system: string | undefined; messages: JsonObject[] } {
  const system: string[] = [];
  const messages: JsonObject[] = [];
  walkOpenAIMessages(list, {
    system: (message, path) => system.push(textOf(message.content, `${path}.content`)),
    user: (message, path) => messages.push({ role: "user", content: userBlocks(message.content, `${path}.content`) }),
    assistant: (message, path) => messages.push({ role: "assistant", content: assistantBlocks(message, path) }),
    tools: (group) =>
      messages.push({
        role: "user",
        content: group.map(({ message, path }) => ({ type: "tool_result", tool_use_id: asString(message.tool_call_id) ?? asString(message.name) ?? "", content: textOf(message.content, `${path}.content`) })),
      }),
  });
  if (messages.length === 0) throw new TranslationError(NO_CONVERSATION, "messages");
  return { system: system.length > 0 ? system.join("\n") : undefined, messages };
}

function textOf(content: unknown, path: string): string {
  if (typeof content === "string") return content;
  if (content === undefined || content === null) return "";
  return asArray(content)
    .map((part, index) => {
      const text = isObject(part) && part.type === "text" ? asString(part.text) : undefined;
      if (text === undefined) throw new TranslationError("Only text parts are allowed here.", `${path}[${index}]`);
      return text;
    })
    .join("");
}

function userBlocks(content: unknown, path: string): string | JsonObject[] {
  if (typeof content === "string") return content;
  if (!Array.isArray(content)) throw new TranslationError("content must be a string or a list of parts.", path);
  return content.map((part, index) => userBlock(asObject(part) ?? {}, `${path}[${index}]`));
}

const IMAGE_TYPES = new Set(["image/jpeg", "image/png", "image/gif", "image/webp"]);

function userBlock(part: JsonObject, path: string): JsonObject {
  if (part.type === "text") return { type: "text", text: asString(part.text) ?? "" };
  if (part.type === "image_url") {
    const url = asString(asObject(part.image_url)?.url) ?? "";
    const data = /^data:([^;,]+);base64,(.*)$/s.exec(url);
    if (!data) return { type: "image", source: { type: "url", url } };
    if (!IMAGE_TYPES.has(data[1] ?? "")) throw new TranslationError(`Images of type ${data[1]} cannot be sent to Anthropic models (JPEG, PNG, GIF and WebP can).`, `${path}.image_url.url`);
    return { type: "image", source: { type: "base64", media_type: data[1], data: data[2] } };
  }
  if (part.type === "file") {
    const fileData = asString(asObject(part.file)?.file_data) ?? "";
    const data = /^data:application\/pdf;base64,(.*)$/s.exec(fileData);
    if (data) return { type: "document", source: { type: "base64", media_type: "application/pdf", data: data[1] } };
    throw new TranslationError("file parts must carry a PDF as a base64 data URL; OpenAI file ids cannot be read by Anthropic models.", `${path}.file`);
  }
  throw new TranslationError(`Content part type "${String(part.type)}" is not supported by Anthropic models.`, `${path}.type`);
}

function assistantBlocks(message: JsonObject, path: string): JsonObject[] {
  const blocks: JsonObject[] = [];
  const text = message.content === undefined || message.content === null ? "" : textOf(message.content, `${path}.content`);
  if (text !== "") blocks.push({ type: "text", text });
  asArray(message.tool_calls).forEach((call, index) => {
    const { id, name, args } = readToolCall(call, `${path}.tool_calls[${index}]`);
    blocks.push({ type: "tool_use", id: id ?? `call_${index}`, name, input: args });
  });
  // Anthropic refuses an empty assistant turn; an empty text block keeps the turn without content.
  return blocks.length > 0 ? blocks : [{ type: "text", text: "" }];
}

function toolsOf(tools: unknown): JsonObject[] | undefined {
  if (tools === undefined || tools === null) return undefined;
  const result = asArray(tools).map((tool, index) => {
    const object = asObject(tool) ?? {};
    if (object.type !== "function") throw new TranslationError(`Tool type "${String(object.type)}" is not supported by Anthropic models; only function tools are.`, `tools[${index}].type`);
    const fn = asObject(object.function) ?? {};
    const name = asString(fn.name);
    if (name === undefined) throw new TranslationError("A function tool needs a name.", `tools[${index}].function.name`);
    return compact({ name, description: asString(fn.description), input_schema: asObject(fn.parameters) ?? { type: "object", properties: {} }, strict: fn.strict === true ? true : undefined });
  });
  return result.length > 0 ? result : undefined;
}

function toolChoiceOf(choice: unknown, parallel: unknown): JsonObject | undefined {
  const disable = parallel === false ? true : undefined;
  if (choice === undefined || choice === null) return disable ? { type: "auto", disable_parallel_tool_use: true } : undefined;
  if (choice === "auto") return compact({ type: "auto", disable_parallel_tool_use: disable });
  if (choice === "required") return compact({ type: "any", disable_parallel_tool_use: disable });
  if (choice === "none") return { type: "none" };
  const name = asString(asObject(asObject(choice)?.function)?.name);
  if (name !== undefined) return compact({ type: "tool", name, disable_parallel_tool_use: disable });
  throw new TranslationError("tool_choice must be auto, none, required or a function.", "tool_choice");
}

const EFFORTS = new Set(["low", "medium", "high"]);

function outputConfigOf(format: unknown, effort: unknown): JsonObject | undefined {
  const object = asObject(format);
  let jsonFormat: JsonObject | undefined;
  if (object && object.type !== "text") {
    if (object.type !== "json_schema") {
      throw new TranslationError(`response_format type "${String(object.type)}" is not supported by Anthropic models; use json_schema with a schema.`, "response_format.type");
    }
    jsonFormat = { type: "json_schema", schema: asObject(asObject(object.json_schema)?.schema) ?? {} };
  }
  const level = asString(effort);
  // none and minimal mean "no reasoning", which is what Anthropic models do unless asked.
  if (level !== undefined && level !== "none" && level !== "minimal" && !EFFORTS.has(level)) {
    throw new TranslationError(`reasoning_effort "${level}" is not one of none, minimal, low, medium, high.`, "reasoning_effort");
  }
  const config = compact({ format: jsonFormat, effort: level !== undefined && EFFORTS.has(level) ? level : undefined });
  return Object.keys(config).length > 0 ? config : undefined;
}
