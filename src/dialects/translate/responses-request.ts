/**
 * OpenAI Responses API request -> OpenAI chat completions request. spool serves `/v1/responses` (sync, streamed
 * and as a batch endpoint) on every Engine through this translation: chat completions is the one generation
 * API every OpenAI-compatible server, llama.cpp and (through translation) Gemini serve, while Responses
 * support upstream is patchy. spool stores no responses, so what needs server-side state is refused with
 * the field named (`previous_response_id`, `conversation`, `background`, item references), as are the
 * built-in tools (web search, file search, code interpreter, ...) that only OpenAI runs.
 *
 * Every field is translated, ignored for a stated reason, or rejected (TranslationError naming it):
 * - input: a string is one user message; items become messages: `message` items (roles system, developer,
 *   user, assistant; `input_text`/`output_text` parts as text, `input_image` as an image part),
 *   `function_call` items as assistant tool calls (consecutive calls share one assistant message),
 *   `function_call_output` as tool messages; `reasoning` items are dropped (chat has no way to send them
 *   back). A role spool does not know is passed on, so the Engine's own 400 names it for that request.
 * - instructions: a system message ahead of the input; max_output_tokens: max_completion_tokens;
 *   text.format: response_format; function tools and tool_choice: their chat forms; reasoning.effort:
 *   reasoning_effort; top_logprobs: logprobs.
 * - ignored: store (spool keeps nothing, so the reply says `store: false`), metadata (echoed in the reply),
 *   include, truncation, service_tier, prompt_cache_key, safety_identifier, stream_options (the streamed
 *   events are spool's own), stream (the route decides).
 */
import { asArray, asNumber, asObject, asString, compact, isObject, type JsonObject } from "./json-fields.ts";
import { TranslationError } from "./translation-error.ts";

const IGNORED = new Set(["model", "stream", "stream_options", "store", "metadata", "include", "truncation", "service_tier", "prompt_cache_key", "prompt_cache_retention", "safety_identifier"]);
const STATEFUL: Record<string, string> = {
  previous_response_id: "spool does not store responses: send the earlier turns in 'input'",
  conversation: "spool does not store conversations: send the earlier turns in 'input'",
  background: "background responses are not supported: use a batch (/v1/batches with endpoint /v1/responses)",
  prompt: "stored prompt templates are not supported: send the instructions and input",
};
const TRANSLATED = new Set(["input", "instructions", "max_output_tokens", "temperature", "top_p", "text", "tools", "tool_choice", "parallel_tool_calls", "reasoning", "top_logprobs", "user", "max_tool_calls", "seed"]);

export function responsesToChatRequest(body: JsonObject): JsonObject {
  for (const [name, value] of Object.entries(body)) {
    if (value === undefined || value === null || IGNORED.has(name)) continue;
    const why = STATEFUL[name];
    if (why !== undefined) throw new TranslationError(`'${name}' is not supported: ${why}.`, name);
    if (!TRANSLATED.has(name)) throw new TranslationError(`Unrecognized request argument supplied: ${name}.`, name);
  }
  if (body.input === undefined || body.input === null) throw new TranslationError("'input' is required: a string, or a list of input items.", "input");
  const messages: JsonObject[] = [];
  const instructions = body.instructions;
  if (typeof instructions === "string" && instructions.length > 0) messages.push({ role: "system", content: instructions });
  else if (instructions !== undefined && instructions !== null && typeof instructions !== "string") throw new TranslationError("'instructions' must be a string.", "instructions");
  messages.push(...inputMessages(body.input));
  const topLogprobs = asNumber(body.top_logprobs);
  return compact({
    model: body.model,
    messages,
    max_completion_tokens: asNumber(body.max_output_tokens),
    temperature: asNumber(body.temperature),
    top_p: asNumber(body.top_p),
    seed: asNumber(body.seed),
    user: asString(body.user),
    response_format: responseFormat(body.text),
    tools: tools(body.tools),
    tool_choice: toolChoice(body.tool_choice),
    parallel_tool_calls: typeof body.parallel_tool_calls === "boolean" ? body.parallel_tool_calls : undefined,
    reasoning_effort: asString(asObject(body.reasoning)?.effort),
    logprobs: topLogprobs !== undefined && topLogprobs > 0 ? true : undefined,
    top_logprobs: topLogprobs !== undefined && topLogprobs > 0 ? topLogprobs : undefined,
  });
}

function inputMessages(input: unknown): JsonObject[] {
  if (typeof input === "string") return [{ role: "user", content: input }];
  if (!Array.isArray(input)) throw new TranslationError("'input' must be a string or a list of input items.", "input");
  const messages: JsonObject[] = [];
  for (const [index, item] of input.entries()) {
    const param = `input[${index}]`;
    if (!isObject(item)) throw new TranslationError(`'${param}' must be an object (an input item).`, param);
    const type = item.type ?? "message";
    if (type === "message") messages.push(message(item, param));
    else if (type === "function_call") addCall(messages, item, param);
    else if (type === "function_call_output") messages.push({ role: "tool", tool_call_id: item.call_id, content: outputText(item.output, `${param}.output`) });
    else if (type === "reasoning") continue;
    else if (type === "item_reference") throw new TranslationError(`'${param}': item references are not supported (spool does not store responses); send the item itself.`, `${param}.type`);
    else throw new TranslationError(`'${param}.type' ${JSON.stringify(type)} is not supported by spool's Responses API.`, `${param}.type`);
  }
  return messages;
}

function message(item: JsonObject, param: string): JsonObject {
  const role = item.role;
  const content = item.content;
  if (typeof content === "string" || content === undefined || content === null) return { role, content: content ?? "" };
  if (!Array.isArray(content)) throw new TranslationError(`'${param}.content' must be a string or a list of content parts.`, `${param}.content`);
  const parts = content.map((part, index) => contentPart(part, `${param}.content[${index}]`)).filter((part): part is JsonObject => part !== null);
  // Assistant turns are text in chat completions (OpenAI rejects image parts there); user turns keep parts.
  if (role === "assistant") return { role, content: parts.map((part) => asString(part.text) ?? "").join("") };
  return { role, content: parts };
}

function contentPart(part: unknown, param: string): JsonObject | null {
  const object = asObject(part);
  if (!object) throw new TranslationError(`'${param}' must be a content part object.`, param);
  switch (object.type) {
    case "input_text":
    case "output_text":
      return { type: "text", text: asString(object.text) ?? "" };
    case "refusal":
      return null;
    case "input_image": {
      const url = asString(object.image_url);
      // A file_id names a File uploaded to spool: a media reference, resolved at dispatch (media-resolution.ts).
      const fileId = asString(object.file_id);
      if (url === undefined && fileId !== undefined) return { type: "file", file: { file_id: fileId } };
      if (url === undefined) throw new TranslationError(`'${param}' needs image_url (a URL or a data: URL) or file_id (a File uploaded to spool).`, `${param}.image_url`);
      return { type: "image_url", image_url: compact({ url, detail: asString(object.detail) }) };
    }
    case "input_file": {
      const fileId = asString(object.file_id);
      const fileData = asString(object.file_data);
      if (fileId !== undefined) return { type: "file", file: { file_id: fileId } };
      if (fileData !== undefined) return { type: "file", file: compact({ filename: asString(object.filename), file_data: fileData }) };
      throw new TranslationError(`'${param}' needs file_id (a File uploaded to spool) or file_data (a data: URL).`, `${param}.file_id`);
    }
    default:
      throw new TranslationError(`'${param}.type' ${JSON.stringify(object.type)} is not supported by spool's Responses API (text, images and files only).`, `${param}.type`);
  }
}

/** A function_call item joins the assistant message just before it when that one only holds calls. */
function addCall(messages: JsonObject[], item: JsonObject, param: string): void {
  const name = asString(item.name);
  if (name === undefined) throw new TranslationError(`'${param}.name' is required.`, `${param}.name`);
  const call = { id: asString(item.call_id) ?? asString(item.id), type: "function", function: { name, arguments: asString(item.arguments) ?? "{}" } };
  const last = messages.at(-1);
  if (last?.role === "assistant" && Array.isArray(last.tool_calls)) last.tool_calls.push(call);
  else messages.push({ role: "assistant", content: null, tool_calls: [call] });
}

function outputText(output: unknown, param: string): string {
  if (typeof output === "string") return output;
  if (Array.isArray(output)) return output.map((part) => asString(asObject(part)?.text) ?? "").join("");
  throw new TranslationError(`'${param}' must be a string.`, param);
}

function responseFormat(text: unknown): JsonObject | undefined {
  const format = asObject(asObject(text)?.format);
  if (!format || format.type === "text") return undefined;
  if (format.type === "json_object") return { type: "json_object" };
  if (format.type === "json_schema") {
    if (!isObject(format.schema)) throw new TranslationError("'text.format.schema' is required for json_schema.", "text.format.schema");
    return { type: "json_schema", json_schema: compact({ name: asString(format.name) ?? "response", description: asString(format.description), schema: format.schema, strict: typeof format.strict === "boolean" ? format.strict : undefined }) };
  }
  throw new TranslationError(`'text.format.type' ${JSON.stringify(format.type)} is not one of text, json_object, json_schema.`, "text.format.type");
}

function tools(value: unknown): JsonObject[] | undefined {
  if (value === undefined || value === null) return undefined;
  return asArray(value).map((tool, index) => {
    const object = asObject(tool) ?? {};
    if (object.type !== "function") throw new TranslationError(`'tools[${index}]': ${JSON.stringify(object.type)} tools are not supported (only function tools; built-in tools run only at OpenAI).`, `tools[${index}].type`);
    return { type: "function", function: compact({ name: object.name, description: asString(object.description), parameters: asObject(object.parameters), strict: typeof object.strict === "boolean" ? object.strict : undefined }) };
  });
}

function toolChoice(value: unknown): unknown {
  if (value === undefined || value === null || typeof value === "string") return value ?? undefined;
  const object = asObject(value) ?? {};
  if (object.type === "function") return { type: "function", function: { name: object.name } };
  throw new TranslationError(`'tool_choice' of type ${JSON.stringify(object.type)} is not supported (only auto, none, required or a function).`, "tool_choice");
}
