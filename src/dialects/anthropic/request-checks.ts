/**
 * Checks a Messages API request body (`params` of a batch request, or the body of `POST /v1/messages`) the
 * way the hosted API does before it runs anything: required fields, types and ranges, every problem listed
 * with its dotted path (`params.messages.0.content.1.type`). Shared by the batch format (each problem becomes
 * the errored result of that request) and the sync route (a 400).
 *
 * Fields it does not know are left alone: the `anthropic` engine forwards them as they are, and the
 * translation to other engines rejects, by path, what it cannot express (src/dialects/translate/).
 */
import type { ModelCatalog } from "../../core/model-catalog.ts";
import { describe, fieldPath, isObject, type Json } from "./wire.ts";

export interface RequestProblem {
  code: string;
  param: string;
  message: string;
}

export interface CheckedRequest {
  /** The configured Model's name; null when the model is missing or unknown. */
  model: string | null;
  problems: RequestProblem[];
}

/** Problems listed per repeated field (messages.i); a body with 10,000 bad messages says so 20 times. */
const MAX_PROBLEMS_PER_FIELD = 20;
const ROLES = new Set(["user", "assistant", "system"]);
const TOOL_CHOICES = new Set(["auto", "any", "tool", "none"]);

/** `root` prefixes every path ("params" in a batch request, "" for the sync endpoint). */
export function checkMessagesRequest(body: unknown, root: string, catalog: ModelCatalog, options: { batch: boolean }): CheckedRequest {
  const problems: RequestProblem[] = [];
  const add = (code: string, param: string, message: string): void => {
    problems.push({ code, param: fieldPath(root, param), message: `${fieldPath(root, param)}: ${message}` });
  };
  if (!isObject(body)) {
    problems.push({ code: "invalid_type", param: root, message: `${root || "body"}: must be an object holding model, max_tokens and messages, found ${describe(body)}.` });
    return { model: null, problems };
  }
  const model = checkModel(body.model, catalog, add);
  checkMaxTokens(body.max_tokens, add);
  checkMessages(body.messages, add);
  checkSystem(body.system, add);
  checkSampling(body, add);
  checkTools(body.tools, body.tool_choice, add);
  if (body.stream === true && options.batch) add("unsupported_value", "stream", "streaming is not available for batch requests; remove 'stream'.");
  if (body.metadata !== undefined && body.metadata !== null && !isObject(body.metadata)) add("invalid_type", "metadata", `must be an object, found ${describe(body.metadata)}.`);
  return { model, problems };
}

type Add = (code: string, param: string, message: string) => void;

function checkModel(value: unknown, catalog: ModelCatalog, add: Add): string | null {
  if (value === undefined || value === null || value === "") {
    add("missing_required_parameter", "model", "Field required: the name of a configured model.");
    return null;
  }
  if (typeof value !== "string") {
    add("invalid_type", "model", `must be a string, found ${describe(value)}.`);
    return null;
  }
  const config = catalog.get(value);
  if (!config) {
    add("model_not_found", "model", catalog.unknownModelMessage(value));
    return null;
  }
  if (!catalog.serves(config, "chat")) {
    add("unsupported_model", "model", `Model '${value}' does not serve messages (chat).`);
    return null;
  }
  return config.name;
}

function checkMaxTokens(value: unknown, add: Add): void {
  if (value === undefined || value === null) add("missing_required_parameter", "max_tokens", "Field required: the most tokens to generate (an integer of at least 1).");
  else if (typeof value !== "number" || !Number.isInteger(value)) add("invalid_type", "max_tokens", `must be an integer, found ${describe(value)}.`);
  else if (value < 1) add("invalid_value", "max_tokens", `must be at least 1, found ${value}.`);
}

function checkMessages(messages: unknown, add: Add): void {
  if (messages === undefined || messages === null) {
    add("missing_required_parameter", "messages", "Field required: a list of {role, content} messages.");
    return;
  }
  if (!Array.isArray(messages)) {
    add("invalid_type", "messages", `must be a list of messages, found ${describe(messages)}.`);
    return;
  }
  if (messages.length === 0) {
    add("invalid_value", "messages", "must contain at least one message.");
    return;
  }
  let reported = 0;
  for (let i = 0; i < messages.length && reported < MAX_PROBLEMS_PER_FIELD; i += 1) {
    const message: unknown = messages[i];
    if (!isObject(message)) {
      add("invalid_type", `messages.${i}`, `must be an object with role and content, found ${describe(message)}.`);
      reported += 1;
      continue;
    }
    if (typeof message.role !== "string" || !ROLES.has(message.role)) {
      const found = message.role === undefined ? "Field required" : `found ${JSON.stringify(message.role)}`;
      add(message.role === undefined ? "missing_required_parameter" : "invalid_value", `messages.${i}.role`, `must be "user", "assistant" or "system" (${found}).`);
      reported += 1;
    }
    reported += checkContent(message.content, `messages.${i}.content`, add);
  }
}

/** Content: a string or a list of typed blocks. Returns how many problems it reported. */
function checkContent(content: unknown, path: string, add: Add): number {
  if (typeof content === "string") return 0;
  if (content === undefined || content === null) {
    add("missing_required_parameter", path, "Field required: a string or a list of content blocks.");
    return 1;
  }
  if (!Array.isArray(content)) {
    add("invalid_type", path, `must be a string or a list of content blocks, found ${describe(content)}.`);
    return 1;
  }
  let reported = 0;
  content.forEach((block, index) => {
    if (reported >= MAX_PROBLEMS_PER_FIELD) return;
    if (!isObject(block) || typeof block.type !== "string") {
      add("invalid_type", `${path}.${index}`, `must be a content block with a string 'type' (e.g. {"type": "text", "text": "..."}), found ${describe(block)}.`);
      reported += 1;
    } else if (block.type === "text" && typeof block.text !== "string") {
      add("invalid_type", `${path}.${index}.text`, `must be a string, found ${describe(block.text)}.`);
      reported += 1;
    }
  });
  return reported;
}

function checkSystem(system: unknown, add: Add): void {
  if (system === undefined || system === null || typeof system === "string") return;
  if (!Array.isArray(system)) {
    add("invalid_type", "system", `must be a string or a list of text blocks, found ${describe(system)}.`);
    return;
  }
  system.forEach((block, index) => {
    if (!isObject(block) || block.type !== "text" || typeof block.text !== "string") add("invalid_type", `system.${index}`, 'must be a text block {"type": "text", "text": "..."}.');
  });
}

function checkSampling(body: Json, add: Add): void {
  const range = (name: string, min: number, max: number): void => {
    const value = body[name];
    if (value === undefined || value === null) return;
    if (typeof value !== "number" || Number.isNaN(value)) add("invalid_type", name, `must be a number, found ${describe(value)}.`);
    else if (value < min || value > max) add("invalid_value", name, `must be between ${min} and ${max}, found ${value}.`);
  };
  range("temperature", 0, 1);
  range("top_p", 0, 1);
  const topK = body.top_k;
  if (topK !== undefined && topK !== null && (typeof topK !== "number" || !Number.isInteger(topK) || topK < 0)) add("invalid_value", "top_k", `must be a non-negative integer, found ${JSON.stringify(topK)}.`);
  const stops = body.stop_sequences;
  if (stops !== undefined && stops !== null && (!Array.isArray(stops) || !stops.every((stop) => typeof stop === "string"))) {
    add("invalid_type", "stop_sequences", `must be a list of strings, found ${describe(stops)}.`);
  }
}

function checkTools(tools: unknown, choice: unknown, add: Add): void {
  if (tools !== undefined && tools !== null) {
    if (!Array.isArray(tools)) add("invalid_type", "tools", `must be a list of tools, found ${describe(tools)}.`);
    else {
      tools.forEach((tool, index) => {
        if (!isObject(tool) || typeof tool.name !== "string" || tool.name === "") add("invalid_value", `tools.${index}.name`, "Field required: every tool needs a name.");
        else if ((tool.type === undefined || tool.type === null || tool.type === "custom") && !isObject(tool.input_schema)) {
          add("missing_required_parameter", `tools.${index}.input_schema`, "Field required: a JSON Schema object for the tool's input.");
        }
      });
    }
  }
  if (choice === undefined || choice === null) return;
  if (!isObject(choice) || typeof choice.type !== "string" || !TOOL_CHOICES.has(choice.type)) {
    add("invalid_value", "tool_choice", 'must be {"type": "auto" | "any" | "tool" | "none"}.');
  } else if (choice.type === "tool" && typeof choice.name !== "string") {
    add("missing_required_parameter", "tool_choice.name", 'Field required when type is "tool".');
  }
}
