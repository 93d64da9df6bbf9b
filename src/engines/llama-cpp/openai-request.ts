/**
 * The OpenAI request bodies the llama-cpp Engine accepts, parsed into what it needs. Lenient on fields it does
 * not know (OpenAI and vLLM keep adding some; ignoring them keeps old batch files working) and strict on the
 * ones it knows: a wrong type, or a feature the engine cannot honour (tools, logprobs, images...), becomes a
 * 400 per-Item error naming the field, never a silently different answer.
 */
import { z } from "zod";
import { EngineError } from "../../core/engine.ts";

export type ChatRole = "system" | "user" | "assistant";

export interface ChatMessage {
  role: ChatRole;
  text: string;
}

export interface SamplingParams {
  temperature: number;
  topP: number | undefined;
  topK: number | undefined;
  minP: number | undefined;
  seed: number | undefined;
  stop: string[];
  presencePenalty: number | undefined;
  frequencyPenalty: number | undefined;
  repetitionPenalty: number | undefined;
  /** Token id -> additive logit bias. */
  logitBias: Map<number, number>;
  /** null: as many as the context allows. */
  maxTokens: number | null;
  n: number;
}

export type ResponseFormat = { type: "text" } | { type: "json_object" } | { type: "json_schema"; schema: Record<string, unknown> };

export interface ChatParams {
  messages: ChatMessage[];
  sampling: SamplingParams;
  responseFormat: ResponseFormat;
}

export interface CompletionParams {
  prompts: string[];
  sampling: SamplingParams;
}

export interface EmbeddingParams {
  /** Text inputs, or token-id inputs. */
  inputs: Array<string | number[]>;
  dimensions: number | undefined;
  encoding: "float" | "base64";
}

/** The error for a request this engine will not run: HTTP-400-like, never retried. */
export function invalidRequestError(message: string, param: string | null): EngineError {
  return new EngineError({
    kind: "unsupported",
    message,
    statusCode: 400,
    body: { error: { message, type: "invalid_request_error", param, code: null } },
    retryable: false,
  });
}

const MAX_N = 16;
const MAX_STOP_SEQUENCES = 16;

const optionalNumber = (schema: z.ZodNumber) => schema.nullish().transform((value) => value ?? undefined);

const samplingShape = {
  temperature: optionalNumber(z.number().min(0).max(2)),
  top_p: optionalNumber(z.number().gt(0).max(1)),
  top_k: optionalNumber(z.number().int().min(-1)),
  min_p: optionalNumber(z.number().min(0).max(1)),
  seed: optionalNumber(z.number().int()),
  n: optionalNumber(z.number().int().min(1).max(MAX_N)),
  presence_penalty: optionalNumber(z.number().min(-2).max(2)),
  frequency_penalty: optionalNumber(z.number().min(-2).max(2)),
  repetition_penalty: optionalNumber(z.number().positive()),
  max_tokens: optionalNumber(z.number().int().positive()),
  stop: z
    .union([z.string(), z.array(z.string()).max(MAX_STOP_SEQUENCES)])
    .nullish()
    .transform((value) => (value === null || value === undefined ? [] : typeof value === "string" ? [value] : value).filter((stop) => stop.length > 0)),
  logit_bias: z.record(z.string().regex(/^\d+$/, "keys must be token ids"), z.number().min(-100).max(100)).nullish(),
};

const contentPartSchema = z.looseObject({ type: z.string(), text: z.unknown().optional() });

const chatBodySchema = z.looseObject({
  ...samplingShape,
  messages: z
    .array(
      z.looseObject({
        role: z.string(),
        content: z.union([z.string(), z.array(contentPartSchema)]).nullish(),
      }),
    )
    .min(1),
  max_completion_tokens: optionalNumber(z.number().int().positive()),
  response_format: z
    .looseObject({
      type: z.enum(["text", "json_object", "json_schema"]),
      json_schema: z.looseObject({ schema: z.record(z.string(), z.unknown()).optional() }).optional(),
    })
    .nullish(),
});

const completionBodySchema = z.looseObject({
  ...samplingShape,
  prompt: z.union([z.string(), z.array(z.string()).min(1)]),
  best_of: optionalNumber(z.number().int().min(1)),
});

const embeddingBodySchema = z.looseObject({
  input: z.union([
    z.string(),
    z.array(z.string()).min(1),
    z.array(z.number().int().min(0)).min(1),
    z.array(z.array(z.number().int().min(0)).min(1)).min(1),
  ]),
  dimensions: optionalNumber(z.number().int().positive()),
  encoding_format: z.enum(["float", "base64"]).nullish(),
});

/** Fields that ask for something this engine cannot do, with the value that is harmless. */
const CHAT_UNSUPPORTED: Array<[field: string, harmless: (value: unknown) => boolean, why: string]> = [
  ["tools", (value) => Array.isArray(value) && value.length === 0, "tool calling is not supported by the llama-cpp engine"],
  ["tool_choice", (value) => value === "none", "tool calling is not supported by the llama-cpp engine"],
  ["functions", (value) => Array.isArray(value) && value.length === 0, "function calling is not supported by the llama-cpp engine"],
  ["function_call", (value) => value === "none", "function calling is not supported by the llama-cpp engine"],
  ["logprobs", (value) => value === false, "logprobs are not supported by the llama-cpp engine"],
  ["top_logprobs", (value) => value === 0, "logprobs are not supported by the llama-cpp engine"],
  ["stream", (value) => value === false, "streaming is not available for batch requests"],
  ["audio", () => false, "audio output is not supported by the llama-cpp engine"],
  ["modalities", (value) => Array.isArray(value) && value.every((item) => item === "text"), "only text output is supported by the llama-cpp engine"],
  ["prediction", () => false, "predicted outputs are not supported by the llama-cpp engine"],
];

const COMPLETION_UNSUPPORTED: Array<[field: string, harmless: (value: unknown) => boolean, why: string]> = [
  ["echo", (value) => value === false, "echo is not supported by the llama-cpp engine"],
  ["suffix", (value) => value === "", "suffix (insertion) is not supported by the llama-cpp engine"],
  ["logprobs", (value) => value === 0, "logprobs are not supported by the llama-cpp engine"],
  ["stream", (value) => value === false, "streaming is not available for batch requests"],
];

function rejectUnsupported(body: Record<string, unknown>, rules: typeof CHAT_UNSUPPORTED): void {
  for (const [field, harmless, why] of rules) {
    const value = body[field];
    if (value === undefined || value === null || harmless(value)) continue;
    throw invalidRequestError(`Unsupported parameter '${field}': ${why}.`, field);
  }
}

function parseWith<T>(schema: z.ZodType<T>, body: unknown): T {
  const parsed = schema.safeParse(body);
  if (parsed.success) return parsed.data;
  const issue = parsed.error.issues[0]!;
  const param = issue.path.length > 0 ? formatPath(issue.path) : null;
  throw invalidRequestError(`Invalid value for '${param ?? "body"}': ${issue.message}.`, param);
}

function formatPath(path: ReadonlyArray<PropertyKey>): string {
  return path.reduce<string>((text, part) => (typeof part === "number" ? `${text}[${part}]` : text ? `${text}.${String(part)}` : String(part)), "");
}

function toSampling(body: z.infer<z.ZodObject<typeof samplingShape>>, maxTokens: number | undefined, defaultMaxTokens: number | null): SamplingParams {
  const logitBias = new Map<number, number>();
  for (const [token, bias] of Object.entries(body.logit_bias ?? {})) logitBias.set(Number(token), bias);
  return {
    // OpenAI's defaults: temperature 1, top_p 1 (vLLM's too). Greedy decoding only when asked for.
    temperature: body.temperature ?? 1,
    topP: body.top_p,
    topK: body.top_k === undefined || body.top_k <= 0 ? undefined : body.top_k,
    minP: body.min_p,
    seed: body.seed,
    stop: body.stop,
    presencePenalty: body.presence_penalty,
    frequencyPenalty: body.frequency_penalty,
    repetitionPenalty: body.repetition_penalty,
    logitBias,
    maxTokens: maxTokens ?? defaultMaxTokens,
    n: body.n ?? 1,
  };
}

export function parseChatBody(body: Record<string, unknown>): ChatParams {
  rejectUnsupported(body, CHAT_UNSUPPORTED);
  const parsed = parseWith(chatBodySchema, body);
  const messages = parsed.messages.map((message, index): ChatMessage => {
    const param = `messages[${index}]`;
    const role = message.role === "developer" ? "system" : message.role;
    if (role !== "system" && role !== "user" && role !== "assistant") {
      const why = role === "tool" || role === "function" ? "tool calling is not supported by the llama-cpp engine" : "expected system, developer, user or assistant";
      throw invalidRequestError(`Unsupported value for '${param}.role': '${message.role}' (${why}).`, `${param}.role`);
    }
    if (role === "assistant" && message.tool_calls !== undefined && message.tool_calls !== null) {
      throw invalidRequestError(`Unsupported parameter '${param}.tool_calls': tool calling is not supported by the llama-cpp engine.`, `${param}.tool_calls`);
    }
    return { role, text: messageText(message.content, param) };
  });
  const format = parsed.response_format;
  let responseFormat: ResponseFormat = { type: "text" };
  if (format?.type === "json_object") responseFormat = { type: "json_object" };
  if (format?.type === "json_schema") {
    const schema = format.json_schema?.schema;
    if (!schema) throw invalidRequestError("Missing 'response_format.json_schema.schema'.", "response_format.json_schema.schema");
    responseFormat = { type: "json_schema", schema };
  }
  return { messages, sampling: toSampling(parsed, parsed.max_completion_tokens ?? parsed.max_tokens, null), responseFormat };
}

function messageText(content: string | Array<z.infer<typeof contentPartSchema>> | null | undefined, param: string): string {
  if (content === null || content === undefined) return "";
  if (typeof content === "string") return content;
  return content
    .map((part, index) => {
      if (part.type === "refusal") return "";
      if (part.type !== "text" || typeof part.text !== "string") {
        const type = part.type === "text" ? "text without a string 'text'" : `'${part.type}'`;
        throw invalidRequestError(`Unsupported content part ${type} in '${param}.content[${index}]': the llama-cpp engine takes text only.`, `${param}.content[${index}].type`);
      }
      return part.text;
    })
    .join("");
}

export function parseCompletionBody(body: Record<string, unknown>): CompletionParams {
  rejectUnsupported(body, COMPLETION_UNSUPPORTED);
  if (Array.isArray(body.prompt) && body.prompt.some((item) => typeof item !== "string")) {
    throw invalidRequestError("Unsupported value for 'prompt': token-id prompts are not supported by the llama-cpp engine; send text.", "prompt");
  }
  const parsed = parseWith(completionBodySchema, body);
  const n = parsed.n ?? 1;
  if (parsed.best_of !== undefined && parsed.best_of !== n) {
    throw invalidRequestError("Unsupported parameter 'best_of': the llama-cpp engine returns every generated choice (best_of must equal n).", "best_of");
  }
  // The legacy completions endpoint defaults to 16 tokens (OpenAI and vLLM).
  return { prompts: typeof parsed.prompt === "string" ? [parsed.prompt] : parsed.prompt, sampling: toSampling(parsed, parsed.max_tokens, 16) };
}

export function parseEmbeddingBody(body: Record<string, unknown>): EmbeddingParams {
  const parsed = parseWith(embeddingBodySchema, body);
  const input = parsed.input;
  let inputs: Array<string | number[]>;
  if (typeof input === "string") inputs = [input];
  else if (input.every((item) => typeof item === "number")) inputs = [input as number[]];
  else inputs = input as Array<string | number[]>;
  inputs.forEach((item, index) => {
    if (item.length === 0) throw invalidRequestError(`Invalid value for 'input[${index}]': it must not be empty.`, typeof input === "string" ? "input" : `input[${index}]`);
  });
  return { inputs, dimensions: parsed.dimensions, encoding: parsed.encoding_format ?? "float" };
}
