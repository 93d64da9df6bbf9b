/**
 * Small readers and writers for Anthropic wire values: RFC 3339 times, Message Batch ids, the custom_id
 * rule, and the dotted field paths Anthropic's errors use (`requests.3.params.messages.0.content`).
 */
import { sortableToken } from "../../core/ids.ts";
import { isObject, type JsonObject } from "../../core/json.ts";

export { isObject };
export type Json = JsonObject;

/** Message Batch ids: `msgbatch_` and a token that sorts by time (the SDK treats ids as opaque). */
export const MESSAGE_BATCH_PREFIX = "msgbatch_";

export function newMessageBatchId(): string {
  return `${MESSAGE_BATCH_PREFIX}${sortableToken()}`;
}

/** The documented custom_id form: 1 to 64 letters, digits, `_` or `-`. */
export const CUSTOM_ID_PATTERN = /^[a-zA-Z0-9_-]{1,64}$/;

/** Anthropic writes times as RFC 3339 strings; null when unset. */
export function toTimestamp(ms: number | null): string | null {
  return ms === null ? null : new Date(ms).toISOString();
}

/** "a number", "an array", "null" — for messages that say what was found instead. */
export { describeValue as describe } from "../line-object.ts";

/** Joins path parts the way Anthropic's validation errors do: `messages.0.content.1.type`. */
export function fieldPath(...parts: (string | number)[]): string {
  return parts.filter((part) => part !== "").join(".");
}
