/**
 * The two keys validation gives an Item so the Store can order and de-duplicate work without reading
 * requests again (issue 10): a prefix key (Items that share the start of their prompt run back to back, so
 * an engine's prefix cache hits) and a request hash (identical requests run once).
 *
 * Both are hashes, so the Store keeps a few bytes per Item whatever the prompt size, and neither is ever
 * shown to clients.
 */
import { hash } from "node:crypto";

/**
 * Characters of leading text a prefix key covers. Two prompts that agree on this many characters (about
 * 500 tokens) share that much prefix, which is worth grouping them for even when they differ later; and
 * the bound keeps hashing cost per line flat however long a system prompt is.
 */
export const PREFIX_KEY_CHARS = 2_048;

/**
 * Characters of a lone prompt (no system prompt or earlier turns) a prefix key covers. Prompts that agree
 * this far share at least ~128 tokens; a shorter lone prompt has too little to share to be worth moving.
 */
export const LONE_PROMPT_PREFIX_CHARS = 512;

/**
 * The prefix key of a prompt: `leadingText` is everything before its last part (tools, system prompt,
 * earlier turns), as one text; `lastText` gives the last part (only read when there is no leading text).
 * With leading text the key covers it (Items with the same system prompt group whatever they ask);
 * without, the start of a long enough lone prompt.
 */
export function promptPrefixKey(model: string, leadingText: string, lastText: () => string): string | null {
  if (leadingText.length > 0) return prefixKeyOf(model, leadingText);
  const last = lastText();
  if (last.length > LONE_PROMPT_PREFIX_CHARS) return prefixKeyOf(model, last.slice(0, LONE_PROMPT_PREFIX_CHARS));
  return null;
}

/**
 * A prefix key: 72 bits of SHA-256 over `model` and at most PREFIX_KEY_CHARS of `leadingText`. A
 * collision would only merge two groups in the claim order, never change a result, so it can be short.
 */
export function prefixKeyOf(model: string, leadingText: string): string {
  const text = `${model}\u0000${leadingText.length > PREFIX_KEY_CHARS ? leadingText.slice(0, PREFIX_KEY_CHARS) : leadingText}`;
  let key = recentKeys.get(text);
  if (key === undefined) {
    key = hash("sha256", text, "base64url").slice(0, 12);
    if (recentKeys.size >= RECENT_KEYS) recentKeys.clear();
    recentKeys.set(text, key);
  }
  return key;
}

/**
 * The keys of the last few hundred distinct prefixes. A Batch that shares prefixes has few of them, and a
 * lookup costs less than hashing the text again (validation computes a key per line); a Batch of unique
 * prefixes only ever misses, and the bound keeps the memory small either way.
 */
const RECENT_KEYS = 256;
const recentKeys = new Map<string, string>();

/**
 * A request hash: 128 bits of SHA-256 over the request body as JSON text. Equal hashes mean "the same
 * request" and one Item's result is copied to the other, so unlike the prefix key it must never collide
 * by chance (2^-64 for a billion Items). Key order counts: two bodies that differ only in key order are
 * treated as different requests, which costs a reuse, never a wrong result.
 */
export function requestHashOf(body: Record<string, unknown>): string {
  return hash("sha256", JSON.stringify(body), "base64url").slice(0, 22);
}
