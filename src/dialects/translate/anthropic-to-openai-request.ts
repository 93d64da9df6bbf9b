/**
 * Anthropic Messages request -> OpenAI chat body, for an Anthropic-dialect Item served by an OpenAI-shaped
 * Engine (openai, llama-cpp) and, through this shape, by the gemini Engine.
 *
 * Every field is translated, ignored for a stated reason, or rejected with a TranslationError naming its
 * dotted path (`messages.2.content.0.source`), as for Gemini (decision 0004):
 * - ignored: `cache_control` anywhere (prompt caching is the engine's own business: llama-cpp reuses its KV
 *   cache and vLLM/SGLang their prefix caches without being asked), `service_tier`, `inference_geo`, `speed`,
 *   `diagnostics` (hosted-service options with no effect on the answer), `stream` (the sync route streams),
 *   `citations` settings, thinking blocks of earlier turns (reasoning cannot be replayed to another engine);
 * - rejected: server tools (web search, code execution, computer use...), `container`, `mcp_servers`, file
 *   ids and URL documents (nothing another engine can read), and any field this file does not know.
 */
import { asArray, asNumber, asObject, asString, compact, isObject, type JsonObject } from "./json-fields.ts";
import { TranslationError } from "./translation-error.ts";

const IGNORED_FIELDS = new Set(["model", "stream", "cache_control", "service_tier", "inference_geo", "speed", "diagnostics", "user_profile_id", "workspace_id"]);
const FIELDS = new Set(["max_tokens", "messages", "system", "stop_sequences", "temperature", "top_p", "top_k", "metadata", "tools", "tool_choice", "thinking", "output_config"]);

export function anthropicToOpenAIRequest(body: JsonObject): JsonObject {
  for (const [name, value] of Object.entries(body)) {
    if (value === undefined || value === null || IGNORED_FIELDS.has(name)) continue;
    if (!FIELDS.has(name)) throw new TranslationError(`${name}: this parameter has no equivalent on this model's engine.`, name);
  }
  const messages: JsonObject[] = [];
  const system = systemText(body.system, "system");
  if (system !== undefined) messages.push({ role: "system", content: system });
  asArray(body.messages).forEach((message, index) => messages.push(...toOpenAIMessages(message, `messages.${index}`)));
  const stop = asArray(body.stop_sequences).filter((each): each is string => typeof each === "string");
  const choice = toolChoiceOf(body.tool_choice);
  const output = asObject(body.output_config);
  return compact({
    messages,
    max_tokens: asNumber(body.max_tokens),
    temperature: asNumber(body.temperature),
    top_p: asNumber(body.top_p),
    // Not OpenAI's own parameter, but vLLM, SGLang and llama.cpp take it (and the gemini translation reads it).
    top_k: asNumber(body.top_k),
    stop: stop.length > 0 ? stop : undefined,
    user: asString(asObject(body.metadata)?.user_id),
    tools: toolsOf(body.tools),
    tool_choice: choice?.choice,
    parallel_tool_calls: choice?.parallel,
    reasoning_effort: reasoningEffortOf(body.thinking, output),
    response_format: responseFormatOf(output),
  });
}

/** A system prompt: a string, or text blocks joined with newlines (the blocks are one prompt, split for caching). */
function systemText(system: unknown, path: string): string | undefined {
  if (system === undefined || system === null) return undefined;
  if (typeof system === "string") return system;
  return asArray(system)
    .map((block, index) => {
      const text = isObject(block) && block.type === "text" ? asString(block.text) : undefined;
      if (text === undefined) throw new TranslationError("system accepts text blocks only.", `${path}.${index}`);
      return text;
    })
    .join("\n");
}

function toOpenAIMessages(message: unknown, path: string): JsonObject[] {
  const object = asObject(message) ?? {};
  const role = asString(object.role);
  if (role === "system") return [{ role: "system", content: systemText(object.content, `${path}.content`) ?? "" }];
  if (role === "assistant") return [assistantMessage(object.content, `${path}.content`)];
  if (role === "user") return userMessages(object.content, `${path}.content`);
  throw new TranslationError(`role ${JSON.stringify(role)} is not "user", "assistant" or "system".`, `${path}.role`);
}

/**
 * A user turn: tool_result blocks become OpenAI tool messages (which must directly follow the assistant
 * message that made the calls, so they come first), the other blocks one user message.
 */
function userMessages(content: unknown, path: string): JsonObject[] {
  if (typeof content === "string") return [{ role: "user", content }];
  const tools: JsonObject[] = [];
  const parts: JsonObject[] = [];
  asArray(content).forEach((block, index) => {
    const at = `${path}.${index}`;
    const object = asObject(block) ?? {};
    if (object.type === "tool_result") tools.push(toolMessage(object, at));
    else parts.push(userPart(object, at));
  });
  if (parts.length === 0) return tools;
  const textOnly = parts.every((part) => part.type === "text");
  return [...tools, { role: "user", content: textOnly ? parts.map((part) => part.text).join("\n") : parts }];
}

function userPart(block: JsonObject, path: string): JsonObject {
  if (block.type === "text") return { type: "text", text: asString(block.text) ?? "" };
  if (block.type === "image") return imagePart(asObject(block.source) ?? {}, `${path}.source`);
  if (block.type === "document") return documentPart(block, path);
  throw unsupportedBlock(block.type, path);
}

function imagePart(source: JsonObject, path: string): JsonObject {
  if (source.type === "base64") return { type: "image_url", image_url: { url: `data:${asString(source.media_type) ?? "image/png"};base64,${asString(source.data) ?? ""}` } };
  if (source.type === "url") return { type: "image_url", image_url: { url: asString(source.url) ?? "" } };
  throw new TranslationError(`image source type ${JSON.stringify(source.type)} cannot be sent to this model's engine (base64 and url can; file ids live in Anthropic's Files API).`, `${path}.type`);
}

/** PDFs travel as OpenAI file parts; plain-text documents as text (titled when they have a title). */
function documentPart(block: JsonObject, path: string): JsonObject {
  const source = asObject(block.source) ?? {};
  const title = asString(block.title);
  if (source.type === "text") {
    const text = asString(source.data) ?? "";
    return { type: "text", text: title ? `${title}\n\n${text}` : text };
  }
  if (source.type === "base64" && source.media_type === "application/pdf") {
    return { type: "file", file: { filename: `${title ?? "document"}.pdf`, file_data: `data:application/pdf;base64,${asString(source.data) ?? ""}` } };
  }
  throw new TranslationError(
    `document source type ${JSON.stringify(source.type)} cannot be sent to this model's engine (base64 PDFs and plain text can; URLs and file ids need Anthropic's service).`,
    `${path}.source.type`,
  );
}

/** tool_result content is text (or text blocks); OpenAI tool messages carry text only. */
function toolMessage(block: JsonObject, path: string): JsonObject {
  const id = asString(block.tool_use_id);
  if (id === undefined) throw new TranslationError("tool_use_id: Field required.", `${path}.tool_use_id`);
  const content = block.content;
  let text: string;
  if (content === undefined || content === null) text = "";
  else if (typeof content === "string") text = content;
  else {
    text = asArray(content)
      .map((part, index) => {
        const object = asObject(part) ?? {};
        if (object.type === "text") return asString(object.text) ?? "";
        if (object.type === "document" && asObject(object.source)?.type === "text") return asString(asObject(object.source)?.data) ?? "";
        throw new TranslationError(`${String(object.type)} blocks in a tool_result cannot be sent to this model's engine (tool messages carry text only).`, `${path}.content.${index}.type`);
      })
      .join("\n");
  }
  // OpenAI tool messages have no error flag; the model learns of the failure from the text instead.
  return { role: "tool", tool_call_id: id, content: block.is_error === true ? `Error: ${text}` : text };
}

function assistantMessage(content: unknown, path: string): JsonObject {
  if (typeof content === "string") return { role: "assistant", content };
  const texts: string[] = [];
  const calls: JsonObject[] = [];
  asArray(content).forEach((block, index) => {
    const at = `${path}.${index}`;
    const object = asObject(block) ?? {};
    if (object.type === "text") texts.push(asString(object.text) ?? "");
    else if (object.type === "tool_use") calls.push(toolCall(object, at));
    // Earlier reasoning cannot be replayed to another engine (its signature is Anthropic's); dropped.
    else if (object.type === "thinking" || object.type === "redacted_thinking") return;
    else throw unsupportedBlock(object.type, at);
  });
  return compact({ role: "assistant", content: texts.length > 0 ? texts.join("") : calls.length > 0 ? null : "", tool_calls: calls.length > 0 ? calls : undefined });
}

function toolCall(block: JsonObject, path: string): JsonObject {
  const name = asString(block.name);
  const id = asString(block.id);
  if (name === undefined || id === undefined) throw new TranslationError("tool_use blocks need an id and a name.", path);
  return { id, type: "function", function: { name, arguments: JSON.stringify(block.input ?? {}) } };
}

function unsupportedBlock(type: unknown, path: string): TranslationError {
  return new TranslationError(`${JSON.stringify(type)} blocks are not supported by this model's engine (text, image, document, tool_use and tool_result are).`, `${path}.type`);
}

/** Client tools only: server tools (web search, bash, code execution...) run inside Anthropic's service. */
function toolsOf(tools: unknown): JsonObject[] | undefined {
  if (tools === undefined || tools === null) return undefined;
  const result = asArray(tools).map((tool, index) => {
    const object = asObject(tool) ?? {};
    if (object.type !== undefined && object.type !== null && object.type !== "custom") {
      throw new TranslationError(`The ${JSON.stringify(object.type)} tool is a server tool of Anthropic's service that this model's engine does not have; only custom tools (name, input_schema) can be translated.`, `tools.${index}.type`);
    }
    return { type: "function", function: compact({ name: asString(object.name) ?? "", description: asString(object.description), parameters: asObject(object.input_schema), strict: object.strict === true ? true : undefined }) };
  });
  return result.length > 0 ? result : undefined;
}

function toolChoiceOf(choice: unknown): { choice: unknown; parallel: false | undefined } | undefined {
  const object = asObject(choice);
  if (!object) return undefined;
  const parallel = object.disable_parallel_tool_use === true ? false : undefined;
  if (object.type === "auto") return { choice: "auto", parallel };
  if (object.type === "any") return { choice: "required", parallel };
  if (object.type === "none") return { choice: "none", parallel: undefined };
  if (object.type === "tool") return { choice: { type: "function", function: { name: asString(object.name) ?? "" } }, parallel };
  throw new TranslationError('tool_choice.type must be "auto", "any", "tool" or "none".', "tool_choice.type");
}

const EFFORTS: Record<string, string> = { low: "low", medium: "medium", high: "high", xhigh: "high", max: "high" };

/**
 * Extended thinking becomes OpenAI's reasoning_effort, the knob reasoning models behind OpenAI-compatible
 * servers read: `output_config.effort` as it is, or a thinking budget by size (Google's mapping, reversed).
 */
function reasoningEffortOf(thinking: unknown, output: JsonObject | undefined): string | undefined {
  const effort = asString(output?.effort);
  if (effort !== undefined) {
    const mapped = EFFORTS[effort];
    if (mapped === undefined) throw new TranslationError(`output_config.effort ${JSON.stringify(effort)} is not low, medium, high, xhigh or max.`, "output_config.effort");
    return mapped;
  }
  const config = asObject(thinking);
  if (!config || config.type === "disabled") return undefined;
  if (config.type === "adaptive") return "medium";
  if (config.type !== "enabled") throw new TranslationError(`thinking.type ${JSON.stringify(config.type)} has no equivalent on this model's engine.`, "thinking.type");
  const budget = asNumber(config.budget_tokens) ?? 0;
  return budget <= 1024 ? "low" : budget <= 8192 ? "medium" : "high";
}

function responseFormatOf(output: JsonObject | undefined): JsonObject | undefined {
  for (const name of Object.keys(output ?? {})) {
    if (name !== "format" && name !== "effort") throw new TranslationError(`output_config.${name} has no equivalent on this model's engine.`, `output_config.${name}`);
  }
  const format = asObject(output?.format);
  if (!format) return undefined;
  if (format.type !== "json_schema") throw new TranslationError(`output_config.format.type ${JSON.stringify(format.type)} is not "json_schema".`, "output_config.format.type");
  return { type: "json_schema", json_schema: { name: "output", schema: asObject(format.schema) ?? {}, strict: true } };
}
