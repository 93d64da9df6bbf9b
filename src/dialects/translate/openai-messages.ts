/**
 * The walk over an OpenAI `messages` list that translations to other dialects share: the list and each
 * message checked, roles dispatched, and consecutive tool (or legacy function) messages handed over as one
 * group, since Gemini and Anthropic both expect the answers to one turn's calls together in one user turn.
 */
import { asString, isObject, type JsonObject } from "./json-fields.ts";
import { TranslationError } from "./translation-error.ts";

export interface OpenAIMessageVisitor {
  /** system and developer messages. */
  system(message: JsonObject, path: string): void;
  user(message: JsonObject, path: string): void;
  assistant(message: JsonObject, path: string): void;
  tools(group: { message: JsonObject; path: string }[]): void;
}

export function walkOpenAIMessages(messages: unknown, visit: OpenAIMessageVisitor): void {
  if (!Array.isArray(messages) || messages.length === 0) throw new TranslationError("messages must be a non-empty list.", "messages");
  let tools: { message: JsonObject; path: string }[] = [];
  const flushTools = (): void => {
    if (tools.length > 0) visit.tools(tools);
    tools = [];
  };
  messages.forEach((message, index) => {
    const path = `messages[${index}]`;
    if (!isObject(message)) throw new TranslationError("Each message must be an object.", path);
    const role = asString(message.role);
    if (role === "tool" || role === "function") {
      tools.push({ message, path });
      return;
    }
    flushTools();
    if (role === "system" || role === "developer") visit.system(message, path);
    else if (role === "user") visit.user(message, path);
    else if (role === "assistant") visit.assistant(message, path);
    else throw new TranslationError(`Unknown message role "${String(role)}".`, `${path}.role`);
  });
  flushTools();
}

export const NO_CONVERSATION = "messages must hold at least one user or assistant message besides system messages.";
