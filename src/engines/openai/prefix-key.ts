/**
 * The prefix key of an OpenAI request body: the upstream model and the first PREFIX_KEY_CHARS characters
 * of the prompt as the upstream will see it (chat messages in order, role and content; a completion's
 * prompt; an embedding's input). Requests with equal keys share at least that much prompt prefix, so
 * sending them to the same replica lets its prefix cache serve them (see http/prefix-router.ts).
 *
 * Why a fixed number of characters rather than "the system messages": a long shared instruction block
 * may sit in the first user message (few-shot templates), and a short shared system prompt ("You are a
 * helpful assistant.") is worth little cache but would send a whole batch to one replica. 256 characters
 * (about 64 tokens) tells distinct long prompts apart, while prompts that differ within their first
 * 256 characters share too little to be worth keeping together.
 */
import type { CallKind } from "../../core/types.ts";

export const PREFIX_KEY_CHARS = 256;

export function prefixKeyOf(kind: CallKind, body: Record<string, unknown>, upstreamModel: string): string {
  const text = kind === "chat" ? chatPrefix(body.messages) : leadingText(kind === "completion" ? body.prompt : body.input);
  return `${upstreamModel}\u0000${text.slice(0, PREFIX_KEY_CHARS)}`;
}

function chatPrefix(messages: unknown): string {
  if (!Array.isArray(messages)) return "";
  let text = "";
  for (const message of messages) {
    if (text.length >= PREFIX_KEY_CHARS) break;
    const { role, content } = (typeof message === "object" && message !== null ? message : {}) as { role?: unknown; content?: unknown };
    text += `${String(role)}\u0000${typeof content === "string" ? content : JSON.stringify(content ?? null)}\u0000`;
  }
  return text;
}

/** A prompt or input: a string, a list of strings or token ids, or a list of token lists. The first one counts. */
function leadingText(value: unknown): string {
  if (typeof value === "string") return value;
  if (Array.isArray(value) && value.length > 0) {
    const first: unknown = value[0];
    if (typeof first === "string") return first;
    if (typeof first === "number") return JSON.stringify(value.slice(0, PREFIX_KEY_CHARS));
    return JSON.stringify(Array.isArray(first) ? first.slice(0, PREFIX_KEY_CHARS) : first);
  }
  return "";
}
