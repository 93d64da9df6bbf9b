/**
 * RequestTraits of OpenAI request bodies (contract: src/core/batch-format.ts): what a prompt starts with,
 * for the claim order, and whether running it twice would give the same answer, for duplicate reuse.
 *
 * The leading text is what a chat template renders before the last message: the tool definitions, then
 * every message but the last, each as its role and text. Bodies reach here validated (parseLine), so
 * shapes are known; anything unexpected only weakens the key, never fails the line.
 */
import type { RequestTraits } from "../../core/batch-format.ts";
import { isObject } from "../../core/json.ts";
import { promptPrefixKey } from "../../core/request-keys.ts";
import type { RequestKind } from "../../core/types.ts";

export function openAIRequestTraits(body: Record<string, unknown>, kind: RequestKind, model: string): RequestTraits {
  if (kind === "embedding") return { prefixKey: null, deterministic: true };
  const deterministic = body.temperature === 0;
  if (kind === "completion") {
    const prompt = body.prompt;
    return { prefixKey: typeof prompt === "string" ? promptPrefixKey(model, "", () => prompt) : null, deterministic };
  }
  const messages = Array.isArray(body.messages) ? body.messages : [];
  let leading = Array.isArray(body.tools) && body.tools.length > 0 ? JSON.stringify(body.tools) : "";
  for (let i = 0; i < messages.length - 1; i += 1) leading += messageText(messages[i]);
  return { prefixKey: promptPrefixKey(model, leading, () => messageText(messages.at(-1))), deterministic };
}

/** A message as a chat template would start it: role, then text (non-text parts as their JSON). */
function messageText(message: unknown): string {
  if (!isObject(message)) return "";
  const role = typeof message.role === "string" ? message.role : "";
  const content = message.content;
  const text = typeof content === "string" ? content : content === undefined || content === null ? "" : JSON.stringify(content);
  return message.tool_calls === undefined ? `<${role}>${text}` : `<${role}>${text}${JSON.stringify(message.tool_calls)}`;
}
