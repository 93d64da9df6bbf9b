/**
 * Gemini GenerateContentRequest / EmbedContentRequest -> OpenAI chat / embedding body, for a Gemini-dialect
 * Item served by an OpenAI-shaped Engine (openai, llama-cpp).
 *
 * Every field is either translated, ignored for a stated reason, or rejected with a TranslationError naming
 * its path (`request.generationConfig.responseModalities`). Unknown fields are rejected too: the real
 * service answers 400 to names it does not know, and dropping a field silently would run a different
 * request from the one the client wrote.
 */
import type { RequestKind } from "../../core/types.ts";
import { generationConfigToOpenAI } from "./gemini-generation-config.ts";
import { geminiSchemaToJsonSchema } from "./gemini-schema.ts";
import { asArray, asNumber, asObject, asString, compact, field, isObject, presentFields, type JsonObject } from "./json-fields.ts";
import { TranslationError } from "./translation-error.ts";

const ROOT = "request";

export function geminiToOpenAIRequest(kind: RequestKind, body: JsonObject): JsonObject {
  if (kind === "chat") return toChatBody(body);
  if (kind === "embedding") return toEmbeddingBody(body);
  throw new TranslationError("The Gemini dialect has no text-completion requests; use generateContent (chat).", ROOT);
}

const CHAT_FIELDS = new Set(["model", "contents", "systemInstruction", "tools", "toolConfig", "safetySettings", "generationConfig", "cachedContent", "labels"]);

function toChatBody(body: JsonObject): JsonObject {
  rejectUnknown(body, CHAT_FIELDS, ROOT);
  if (field(body, "cachedContent") != null) {
    throw new TranslationError("cachedContent refers to a Gemini context cache, which this model's engine cannot read; send the cached contents inline.", `${ROOT}.cachedContent`);
  }
  // safetySettings tune Google's own output filter. OpenAI-shaped engines have no such filter, so every
  // threshold behaves as BLOCK_NONE; rejecting them would fail the many files that set them by habit.
  // labels are billing metadata (Vertex) with no effect on the answer.
  const messages: JsonObject[] = [];
  const system = systemText(field(body, "systemInstruction"));
  if (system !== undefined) messages.push({ role: "system", content: system });
  const contents = field(body, "contents");
  if (!Array.isArray(contents) || contents.length === 0) throw new TranslationError("contents must be a non-empty list.", `${ROOT}.contents`);
  const calls = new PendingCalls();
  contents.forEach((content, index) => messages.push(...contentToMessages(content, `${ROOT}.contents[${index}]`, calls)));

  const tools = toolsOf(field(body, "tools"));
  const toolChoice = toolChoiceOf(field(body, "toolConfig"));
  const allowed = toolChoice?.allowedNames;
  return compact({
    messages,
    tools: tools && allowed ? tools.filter((tool) => allowed.includes(String(asObject(tool.function)?.name))) : tools,
    tool_choice: toolChoice?.choice,
    ...generationConfigToOpenAI(field(body, "generationConfig"), `${ROOT}.generationConfig`),
  });
}

function rejectUnknown(object: JsonObject, known: Set<string>, path: string): void {
  for (const name of presentFields(object)) {
    if (!known.has(name)) throw new TranslationError(`${path}.${name} has no equivalent on this model's engine.`, `${path}.${name}`);
  }
}

function systemText(instruction: unknown): string | undefined {
  if (instruction == null) return undefined;
  if (typeof instruction === "string") return instruction;
  const path = `${ROOT}.systemInstruction`;
  if (!isObject(instruction)) throw new TranslationError("systemInstruction must be a Content object.", path);
  const texts = asArray(field(instruction, "parts")).map((part, index) => {
    const text = isObject(part) ? asString(part.text) : undefined;
    if (text === undefined) throw new TranslationError("systemInstruction accepts text parts only.", `${path}.parts[${index}]`);
    return text;
  });
  return texts.join("\n");
}

/**
 * Matches functionResponse parts to earlier functionCall parts. OpenAI needs a `tool_call_id` on every
 * tool message; Gemini matches by optional `id`, else by function name in call order.
 */
class PendingCalls {
  private pending: { id: string; name: string }[] = [];
  private next = 0;

  open(name: string, id: string | undefined): string {
    const callId = id ?? `call_${this.next}`;
    this.next += 1;
    this.pending.push({ id: callId, name });
    return callId;
  }

  close(name: string, id: string | undefined): string | undefined {
    const index = this.pending.findIndex((call) => (id !== undefined ? call.id === id : call.name === name));
    const fallback = index === -1 && id !== undefined ? this.pending.findIndex((call) => call.name === name) : index;
    const call = this.pending[fallback];
    if (call === undefined) return undefined;
    this.pending.splice(fallback, 1);
    return call.id;
  }
}

/** Parts that only annotate another part (or the Live API) and carry nothing an OpenAI engine could use. */
const ANNOTATIONS = new Set(["thought", "thoughtSignature", "videoMetadata", "partMetadata", "mediaResolution"]);

function contentToMessages(content: unknown, path: string, calls: PendingCalls): JsonObject[] {
  if (!isObject(content)) throw new TranslationError("Each element of contents must be a Content object.", path);
  const role = asString(field(content, "role")) ?? "user";
  const parts = field(content, "parts");
  if (!Array.isArray(parts)) throw new TranslationError("parts must be a list.", `${path}.parts`);
  if (role === "model") return [modelMessage(parts, path, calls)];
  if (role === "user" || role === "function" || role === "tool") return userMessages(parts, path, calls);
  throw new TranslationError(`role "${role}" is not a Gemini role; use "user" or "model".`, `${path}.role`);
}

/**
 * Text parts of one turn are separate pieces of input; they are joined with a newline so that two parts
 * ("Describe:", "this image") do not run together. Model turns are fragments of one generated answer and
 * are joined with nothing, as the SDK's `response.text` does.
 */
function userMessages(parts: unknown[], path: string, calls: PendingCalls): JsonObject[] {
  const toolMessages: JsonObject[] = [];
  const content: JsonObject[] = [];
  parts.forEach((part, index) => {
    const at = `${path}.parts[${index}]`;
    const kind = partKind(part, at);
    if (kind === "thought") return;
    if (kind === "text") content.push({ type: "text", text: (part as JsonObject).text });
    else if (kind === "inlineData") content.push(inlineDataPart(field(part as JsonObject, "inlineData"), `${at}.inlineData`));
    else if (kind === "functionResponse") toolMessages.push(toolMessage(field(part as JsonObject, "functionResponse"), `${at}.functionResponse`, calls));
    else throw unsupportedPart(kind, at, "a user turn");
  });
  if (content.length === 0) return toolMessages;
  const textOnly = content.every((part) => part.type === "text");
  const user = { role: "user", content: textOnly ? content.map((part) => part.text).join("\n") : content };
  // Tool messages must directly follow the assistant message that made the calls.
  return [...toolMessages, user];
}

function modelMessage(parts: unknown[], path: string, calls: PendingCalls): JsonObject {
  const texts: string[] = [];
  const toolCalls: JsonObject[] = [];
  parts.forEach((part, index) => {
    const at = `${path}.parts[${index}]`;
    const kind = partKind(part, at);
    // Earlier reasoning cannot be replayed to another engine; Gemini itself ignores it on input.
    if (kind === "thought") return;
    if (kind === "text") texts.push(String((part as JsonObject).text));
    else if (kind === "functionCall") toolCalls.push(toolCall(field(part as JsonObject, "functionCall"), `${at}.functionCall`, calls));
    else throw unsupportedPart(kind, at, "a model turn");
  });
  return compact({
    role: "assistant",
    content: texts.length > 0 ? texts.join("") : toolCalls.length > 0 ? null : "",
    tool_calls: toolCalls.length > 0 ? toolCalls : undefined,
  });
}

type PartKind = "text" | "thought" | "inlineData" | "fileData" | "functionCall" | "functionResponse" | "executableCode" | "codeExecutionResult";
const PART_KINDS: PartKind[] = ["text", "inlineData", "fileData", "functionCall", "functionResponse", "executableCode", "codeExecutionResult"];

function partKind(part: unknown, path: string): PartKind {
  if (!isObject(part)) throw new TranslationError("Each part must be an object.", path);
  const fields = presentFields(part).filter((name) => !ANNOTATIONS.has(name));
  const kind = PART_KINDS.find((name) => fields.includes(name));
  const extra = fields.find((name) => !PART_KINDS.includes(name as PartKind));
  if (extra !== undefined) throw new TranslationError(`Part field ${extra} has no equivalent on this model's engine.`, `${path}.${extra}`);
  if (kind === undefined) throw new TranslationError("A part must hold text, inlineData, functionCall or functionResponse.", path);
  if (kind === "text" && part.thought === true) return "thought";
  return kind;
}

function unsupportedPart(kind: PartKind, path: string, where: string): TranslationError {
  const reasons: Partial<Record<PartKind, string>> = {
    fileData: "fileData refers to a file stored with Google (Files API or a remote URI), which this model's engine cannot fetch; upload it to spool's Files API and name it by its uri (or files/{id}), or send the bytes as inlineData.",
    executableCode: "executableCode parts come from Gemini's code-execution tool, which this model's engine does not have.",
    codeExecutionResult: "codeExecutionResult parts come from Gemini's code-execution tool, which this model's engine does not have.",
  };
  return new TranslationError(reasons[kind] ?? `${kind} parts are not allowed in ${where} on this model's engine.`, `${path}.${kind}`);
}

const AUDIO_FORMATS: Record<string, string> = { "audio/wav": "wav", "audio/x-wav": "wav", "audio/wave": "wav", "audio/mp3": "mp3", "audio/mpeg": "mp3" };

function inlineDataPart(blob: unknown, path: string): JsonObject {
  const object = asObject(blob) ?? {};
  const mimeType = asString(field(object, "mimeType"))?.toLowerCase();
  const data = asString(object.data);
  if (mimeType === undefined || data === undefined) throw new TranslationError("inlineData needs mimeType and base64 data.", path);
  if (mimeType.startsWith("image/")) return { type: "image_url", image_url: { url: `data:${mimeType};base64,${data}` } };
  const audioFormat = AUDIO_FORMATS[mimeType];
  if (audioFormat !== undefined) return { type: "input_audio", input_audio: { data, format: audioFormat } };
  if (mimeType === "application/pdf") return { type: "file", file: { filename: "document.pdf", file_data: `data:${mimeType};base64,${data}` } };
  throw new TranslationError(`inlineData of type ${mimeType} cannot be sent to this model's engine (images, WAV/MP3 audio and PDF can).`, `${path}.mimeType`);
}

function toolCall(call: unknown, path: string, calls: PendingCalls): JsonObject {
  const object = asObject(call) ?? {};
  const name = asString(object.name);
  if (name === undefined) throw new TranslationError("functionCall needs a name.", `${path}.name`);
  const id = calls.open(name, asString(object.id));
  return { id, type: "function", function: { name, arguments: JSON.stringify(object.args ?? {}) } };
}

function toolMessage(response: unknown, path: string, calls: PendingCalls): JsonObject {
  const object = asObject(response) ?? {};
  const name = asString(object.name);
  if (name === undefined) throw new TranslationError("functionResponse needs a name.", `${path}.name`);
  const id = calls.close(name, asString(object.id));
  if (id === undefined) {
    throw new TranslationError(`functionResponse "${name}" answers no functionCall of an earlier model turn; OpenAI-shaped engines need the call in the history.`, path);
  }
  return { role: "tool", tool_call_id: id, content: JSON.stringify(object.response ?? {}) };
}

const TOOL_REASONS: Record<string, string> = {
  googleSearch: "Google Search grounding",
  googleSearchRetrieval: "Google Search grounding",
  codeExecution: "Gemini's code execution",
  urlContext: "Gemini's URL context",
  fileSearch: "Gemini's file search",
  googleMaps: "Google Maps grounding",
  retrieval: "Vertex retrieval",
  enterpriseWebSearch: "enterprise web search",
  computerUse: "computer use",
};

function toolsOf(tools: unknown): JsonObject[] | undefined {
  if (tools == null) return undefined;
  const result: JsonObject[] = [];
  asArray(tools).forEach((tool, index) => {
    const path = `${ROOT}.tools[${index}]`;
    if (!isObject(tool)) throw new TranslationError("Each tool must be an object.", path);
    for (const name of presentFields(tool)) {
      if (name !== "functionDeclarations") {
        const what = TOOL_REASONS[name] ?? `The ${name} tool`;
        throw new TranslationError(`${what} is a Gemini service feature that this model's engine does not have; only functionDeclarations can be translated.`, `${path}.${name}`);
      }
    }
    asArray(field(tool, "functionDeclarations")).forEach((declaration, position) => {
      result.push(functionTool(declaration, `${path}.functionDeclarations[${position}]`));
    });
  });
  return result.length > 0 ? result : undefined;
}

function functionTool(declaration: unknown, path: string): JsonObject {
  const object = asObject(declaration) ?? {};
  const name = asString(object.name);
  if (name === undefined) throw new TranslationError("A function declaration needs a name.", `${path}.name`);
  const jsonSchema = field(object, "parametersJsonSchema");
  const parameters = jsonSchema ?? (object.parameters != null ? geminiSchemaToJsonSchema(object.parameters, `${path}.parameters`) : undefined);
  // `response` / `responseJsonSchema` describe what the client's function returns; OpenAI tools have no
  // such field and the model never needs it to call the function.
  return { type: "function", function: compact({ name, description: asString(object.description), parameters }) };
}

/** Only functionCallingConfig matters here: toolConfig.retrievalConfig serves Google Maps grounding, rejected above. */
function toolChoiceOf(toolConfig: unknown): { choice: unknown; allowedNames?: string[] } | undefined {
  const config = asObject(field(asObject(toolConfig) ?? {}, "functionCallingConfig"));
  if (!config) return undefined;
  const mode = asString(config.mode)?.toUpperCase();
  const allowed = asArray(field(config, "allowedFunctionNames")).filter((name): name is string => typeof name === "string");
  if (mode === "NONE") return { choice: "none" };
  if (mode === "ANY") {
    // ANY restricted to a list: offering only those tools and requiring a call is the same contract.
    if (allowed.length === 1) return { choice: { type: "function", function: { name: allowed[0] } }, allowedNames: allowed };
    return { choice: "required", allowedNames: allowed.length > 0 ? allowed : undefined };
  }
  // VALIDATED ("call or answer, but calls must match the schema") is AUTO for engines without a validator.
  if (mode === "AUTO" || mode === "VALIDATED") return { choice: "auto" };
  return undefined;
}

const EMBED_FIELDS = new Set(["model", "content", "taskType", "title", "outputDimensionality"]);

/**
 * taskType has no OpenAI equivalent and is dropped on purpose: Gemini uses it to pick an internal
 * prompt, and the prompt formats other embedding models were trained on (EmbeddingGemma's
 * "task: search result | query: ", E5's "query: ") differ per model, so any prefix spool guessed would
 * shift vectors for models that never saw it. A client that needs one writes it into the text.
 * title is different: it is the client's own text about the document (Gemini only accepts it with
 * RETRIEVAL_DOCUMENT), so it is kept by prepending it, separated by a blank line.
 *
 * A BatchEmbedContentsRequest (`{requests: [...]}`, the sync batchEmbedContents body) becomes one
 * embedding call with a list input. Each vector is fitted to its own outputDimensionality on the reply.
 */
function toEmbeddingBody(body: JsonObject): JsonObject {
  const requests = field(body, "requests");
  if (!Array.isArray(requests)) {
    const { text, dimension } = embedInput(body, ROOT);
    return compact({ input: text, dimensions: dimension, encoding_format: "float" });
  }
  rejectUnknown(body, new Set(["model", "requests"]), ROOT);
  const inputs = requests.map((request, index) => embedInput(asObject(request) ?? {}, `requests[${index}]`));
  if (inputs.length === 0) throw new TranslationError("requests must hold at least one EmbedContentRequest.", "requests");
  const dimensions = new Set(inputs.map((input) => input.dimension));
  return compact({
    input: inputs.map((input) => input.text),
    // One `dimensions` per call: sent only when every request asks for the same size.
    dimensions: dimensions.size === 1 ? inputs[0]?.dimension : undefined,
    // Explicit, so servers that default to base64 still return the float list the reply mapping reads.
    encoding_format: "float",
  });
}

function embedInput(request: JsonObject, root: string): { text: string; dimension: number | undefined } {
  rejectUnknown(request, EMBED_FIELDS, root);
  const path = `${root}.content`;
  const content = asObject(field(request, "content"));
  if (!content) throw new TranslationError("content is required.", path);
  const texts = asArray(content.parts).map((part, index) => {
    const text = isObject(part) ? asString(part.text) : undefined;
    if (text === undefined) throw new TranslationError("Embedding content accepts text parts only.", `${path}.parts[${index}]`);
    return text;
  });
  if (texts.length === 0) throw new TranslationError("content.parts must hold at least one text part.", `${path}.parts`);
  const title = asString(request.title);
  const text = texts.join("\n");
  return { text: title ? `${title}\n\n${text}` : text, dimension: asNumber(field(request, "outputDimensionality")) };
}
