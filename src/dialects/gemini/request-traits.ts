/**
 * RequestTraits of Gemini request bodies (contract: src/core/batch-format.ts): what a prompt starts with,
 * for the claim order, and whether running it twice would give the same answer, for duplicate reuse.
 *
 * The leading text is what the model sees before the last turn: the tools, the system instruction, then
 * every content but the last. Fields may be spelled in lowerCamelCase or snake_case (wire.ts `field`).
 */
import type { RequestTraits } from "../../core/batch-format.ts";
import { promptPrefixKey } from "../../core/request-keys.ts";
import type { RequestKind } from "../../core/types.ts";
import { field, isObject } from "./wire.ts";

export function geminiRequestTraits(body: Record<string, unknown>, kind: RequestKind, model: string): RequestTraits {
  if (kind === "embedding") return { prefixKey: null, deterministic: true };
  const config = field(body, "generationConfig");
  const deterministic = isObject(config) && field(config, "temperature") === 0;
  const contents = field(body, "contents");
  const turns = Array.isArray(contents) ? contents : [];
  const tools = field(body, "tools");
  let leading = Array.isArray(tools) && tools.length > 0 ? JSON.stringify(tools) : "";
  const system = field(body, "systemInstruction");
  if (system !== undefined && system !== null) leading += contentText(system, "system");
  for (let i = 0; i < turns.length - 1; i += 1) leading += contentText(turns[i], "user");
  return { prefixKey: promptPrefixKey(model, leading, () => contentText(turns.at(-1), "user")), deterministic };
}

/** A Content as role and text; parts that are not text count as their JSON. A bare string is a text. */
function contentText(content: unknown, defaultRole: string): string {
  if (typeof content === "string") return `<${defaultRole}>${content}`;
  if (!isObject(content)) return "";
  const role = typeof content.role === "string" ? content.role : defaultRole;
  const parts = Array.isArray(content.parts) ? content.parts : [];
  let text = `<${role}>`;
  for (const part of parts) text += isObject(part) && typeof part.text === "string" && Object.keys(part).length === 1 ? part.text : JSON.stringify(part);
  return text;
}
