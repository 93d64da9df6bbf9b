/**
 * OpenAI chat completion -> OpenAI Responses API `response` object (the other half of responses-request.ts),
 * for `/v1/responses` served through chat completions. The first choice becomes the output: a `message`
 * item with one `output_text` part (or a `refusal` part), then one `function_call` item per tool call.
 * A reply cut by the token limit is `status: "incomplete"` with `incomplete_details.reason` set, as OpenAI
 * reports it. The request's settings are echoed (instructions, temperature, tools, text format,
 * metadata...), and `store` is false: spool keeps no responses.
 *
 * Ids are derived from the chat completion's id, so the same stored reply always becomes the same
 * response (a batch whose result files are written again after a crash writes identical lines).
 */
import { asArray, asNumber, asObject, asString, isObject, type JsonObject } from "./json-fields.ts";

export interface ResponseEcho {
  /** The Responses request being answered. */
  request: JsonObject;
  /** The model name the client used. */
  modelName: string;
}

/** The id stem shared by a response and its items: the chat completion id without its prefix. */
export function idStem(chatId: unknown): string {
  const id = typeof chatId === "string" && chatId.length > 0 ? chatId : `gen${Date.now().toString(36)}`;
  return id.replace(/^(chatcmpl|cmpl|resp)[-_]/, "").replace(/[^A-Za-z0-9_-]/g, "");
}

export function chatToResponse(reply: unknown, echo: ResponseEcho): JsonObject {
  const chat = asObject(reply) ?? {};
  const choice = asObject(asArray(chat.choices)[0]) ?? {};
  const message = asObject(choice.message) ?? {};
  const stem = idStem(chat.id);
  const finish = asString(choice.finish_reason);
  const incomplete = finish === "length" || finish === "content_filter";
  const output: JsonObject[] = [];
  const text = messageText(message.content);
  const refusal = asString(message.refusal);
  const calls = asArray(message.tool_calls).filter(isObject);
  if (text.length > 0 || refusal || calls.length === 0) {
    const part = refusal && text.length === 0 ? { type: "refusal", refusal } : { type: "output_text", text, annotations: [], logprobs: [] };
    output.push({ id: `msg_${stem}`, type: "message", status: incomplete ? "incomplete" : "completed", role: "assistant", content: [part] });
  }
  calls.forEach((call, index) => output.push(functionCallItem(call, stem, index)));
  return responseObject(echo, {
    id: `resp_${stem}`,
    createdAt: asNumber(chat.created) ?? Math.floor(Date.now() / 1000),
    status: incomplete ? "incomplete" : "completed",
    incompleteReason: finish === "length" ? "max_output_tokens" : finish === "content_filter" ? "content_filter" : null,
    output,
    usage: toResponseUsage(chat.usage),
  });
}

export function functionCallItem(call: JsonObject, stem: string, index: number): JsonObject {
  const fn = asObject(call.function) ?? {};
  return {
    id: `fc_${stem}_${index}`,
    type: "function_call",
    status: "completed",
    call_id: asString(call.id) ?? `call_${stem}_${index}`,
    name: asString(fn.name) ?? "",
    arguments: asString(fn.arguments) ?? "",
  };
}

/** The response envelope with the request's settings echoed. */
export function responseObject(
  echo: ResponseEcho,
  state: { id: string; createdAt: number; status: string; incompleteReason: string | null; output: JsonObject[]; usage: JsonObject | null },
): JsonObject {
  const request = echo.request;
  return {
    id: state.id,
    object: "response",
    created_at: state.createdAt,
    status: state.status,
    background: false,
    error: null,
    incomplete_details: state.incompleteReason === null ? null : { reason: state.incompleteReason },
    instructions: request.instructions ?? null,
    max_output_tokens: request.max_output_tokens ?? null,
    max_tool_calls: request.max_tool_calls ?? null,
    model: echo.modelName,
    output: state.output,
    parallel_tool_calls: request.parallel_tool_calls ?? true,
    previous_response_id: null,
    reasoning: { effort: asString(asObject(request.reasoning)?.effort) ?? null, summary: null },
    service_tier: "default",
    store: false,
    temperature: request.temperature ?? 1,
    text: { format: asObject(asObject(request.text)?.format) ?? { type: "text" } },
    tool_choice: request.tool_choice ?? "auto",
    tools: request.tools ?? [],
    top_logprobs: request.top_logprobs ?? 0,
    top_p: request.top_p ?? 1,
    truncation: request.truncation ?? "disabled",
    usage: state.usage,
    user: request.user ?? null,
    metadata: request.metadata ?? {},
  };
}

/** Chat usage -> Responses usage (input/output naming, cached and reasoning details). */
export function toResponseUsage(usage: unknown): JsonObject | null {
  const object = asObject(usage);
  if (!object) return null;
  const input = asNumber(object.prompt_tokens) ?? 0;
  const output = asNumber(object.completion_tokens) ?? 0;
  return {
    input_tokens: input,
    input_tokens_details: { cached_tokens: asNumber(asObject(object.prompt_tokens_details)?.cached_tokens) ?? 0 },
    output_tokens: output,
    output_tokens_details: { reasoning_tokens: asNumber(asObject(object.completion_tokens_details)?.reasoning_tokens) ?? 0 },
    total_tokens: asNumber(object.total_tokens) ?? input + output,
  };
}

function messageText(content: unknown): string {
  if (typeof content === "string") return content;
  return asArray(content)
    .map((part) => (isObject(part) && part.type === "text" ? (asString(part.text) ?? "") : ""))
    .join("");
}
