/**
 * RequestTraits of Messages request bodies (contract: src/core/batch-format.ts): what a prompt starts with,
 * for the claim order, and whether running it twice would give the same answer, for duplicate reuse.
 *
 * The leading text is what the model sees before the last turn: the tools, the system prompt, then every
 * message but the last. Blocks that are not plain text count as their JSON.
 */
import type { RequestTraits } from "../../core/batch-format.ts";
import { promptPrefixKey } from "../../core/request-keys.ts";
import type { RequestKind } from "../../core/types.ts";
import { isObject } from "./wire.ts";

export function anthropicRequestTraits(body: Record<string, unknown>, _kind: RequestKind, model: string): RequestTraits {
  const deterministic = body.temperature === 0;
  const messages = Array.isArray(body.messages) ? body.messages : [];
  let leading = Array.isArray(body.tools) && body.tools.length > 0 ? JSON.stringify(body.tools) : "";
  if (body.system !== undefined && body.system !== null) leading += `<system>${contentText(body.system)}`;
  for (let i = 0; i < messages.length - 1; i += 1) leading += messageText(messages[i]);
  return { prefixKey: promptPrefixKey(model, leading, () => messageText(messages.at(-1))), deterministic };
}

function messageText(message: unknown): string {
  if (!isObject(message)) return "";
  return `<${typeof message.role === "string" ? message.role : ""}>${contentText(message.content)}`;
}

function contentText(content: unknown): string {
  if (typeof content === "string") return content;
  if (!Array.isArray(content)) return "";
  let text = "";
  for (const block of content) text += isObject(block) && block.type === "text" && typeof block.text === "string" ? block.text : JSON.stringify(block);
  return text;
}
