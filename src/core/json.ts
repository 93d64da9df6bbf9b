import { parseJsonDeferringNumbers } from "./deferred-json.ts";
import { topLevelMemberText } from "./json-member.ts";

/** The one test for "a JSON object" (not null, not an array), used by every layer that reads parsed JSON. */
export type JsonObject = Record<string, unknown>;

export function isObject(value: unknown): value is JsonObject {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/**
 * A stored body (JSON text written by JSON.stringify) as a value to splice into a JSONL line: as it is, since
 * parsing and re-serializing every result would dominate finalization of large Batches. A body carrying a raw
 * newline (pretty-printed by some other writer) would split the line, so only then it is re-serialized.
 */
export function bodyJson(body: string | null): string {
  if (body === null || body.length === 0) return "null";
  if (!body.includes("\n") && !body.includes("\r")) return body;
  try {
    return JSON.stringify(JSON.parse(body));
  } catch {
    return JSON.stringify(body);
  }
}

/**
 * The text a parsed JSON value came from, kept for values that may be stored unchanged: a reply an upstream
 * sent is parsed (usage must be read), but when nothing changes it, writing the upstream's own bytes saves
 * serializing every reply again (issue 11: a measurable share of the hot path at thousands of Items per
 * second). Kept on the parsed object itself, so a translated or rebuilt reply (a new object) is never
 * written with the old text. The contract: a value parsed here is never mutated in place.
 *
 * A non-enumerable symbol property, not a WeakMap: spread, Object.assign, JSON.stringify, structured clone
 * and Object.keys all skip it, so copies never carry the text; and V8 handles a WeakMap's entries as
 * ephemerons in every GC, which with two entries per Item in flight (its body and its reply, thousands at
 * once) cost about 0.4 µs per entry (decision 0034). `Reflect.defineProperty` answers false instead of
 * throwing for a frozen value, which then is serialized when written.
 */
const SOURCE_TEXT = Symbol("spool.sourceText");
type WithSourceText = { [SOURCE_TEXT]?: string };
const sourceTexts = {
  set(value: object, text: string): void {
    Reflect.defineProperty(value, SOURCE_TEXT, { value: text, configurable: true });
  },
  get(value: object): string | undefined {
    return (value as WithSourceText)[SOURCE_TEXT];
  },
};

/**
 * JSON.parse that remembers `text` for the parsed object or array (throws as JSON.parse does). Long arrays
 * of numbers (embedding vectors) stay text until read (deferred-json.ts): a reply stored as its text never
 * parses them.
 */
export function parseJsonKeepingText(text: string): unknown {
  const value = parseJsonDeferringNumbers(text);
  if (typeof value === "object" && value !== null) sourceTexts.set(value, text);
  return value;
}

/**
 * Remembers `text` as what `value` (just parsed from it by another parser) was written as: the JSON body of a
 * sync request, sent to an upstream as the client's own bytes when nothing in it changes (decision 0025).
 */
export function keepJsonText(value: unknown, text: string): void {
  if (typeof value === "object" && value !== null) sourceTexts.set(value, text);
}

/** `value` as JSON text: the text it was parsed from (parseJsonKeepingText), else JSON.stringify. */
export function jsonTextOf(value: unknown): string {
  if (typeof value === "object" && value !== null) {
    const text = sourceTexts.get(value);
    if (text !== undefined) return text;
  }
  return JSON.stringify(value);
}

/**
 * Where a shallow copy of a parsed object (a reply given the client's Model name) came from: the text the
 * original was parsed from and the members the copy replaced. Its other members are the original's own
 * values, so their text is still in that text (memberSourceText). A hidden property like SOURCE_TEXT, for
 * the same reasons: copies of the copy do not carry it, and no WeakMap entry per reply.
 */
const COPIED_FROM = Symbol("spool.copiedFrom");
interface Origin {
  text: string;
  replaced: readonly string[];
}
const NOTHING_REPLACED: readonly string[] = [];

function originOf(value: object): Origin | undefined {
  const own = sourceTexts.get(value);
  return own !== undefined ? { text: own, replaced: NOTHING_REPLACED } : (value as { [COPIED_FROM]?: Origin })[COPIED_FROM];
}

/** `{ ...value, ...changes }`, remembering where the members not in `changes` were parsed from. */
export function copyWithMembers(value: JsonObject, changes: JsonObject): JsonObject {
  const copy = { ...value, ...changes };
  const origin = originOf(value);
  if (origin !== undefined) {
    const replaced = [...origin.replaced, ...Object.keys(changes)];
    Reflect.defineProperty(copy, COPIED_FROM, { value: { text: origin.text, replaced }, configurable: true });
  }
  return copy;
}

/** The text `value` was parsed from, or that its copyWithMembers original was (then some members differ). */
export function knownSourceText(value: object): string | null {
  return originOf(value)?.text ?? null;
}

/**
 * The text top-level member `key` of `value` was parsed from, when it is known and unchanged: `value` was
 * parsed keeping its text, or is a copyWithMembers copy that did not replace `key`. Null otherwise (also
 * for a key the scan cannot read: see topLevelMemberText).
 */
export function memberSourceText(value: JsonObject, key: string): string | null {
  const origin = originOf(value);
  return origin === undefined || origin.replaced.includes(key) ? null : topLevelMemberText(origin.text, key);
}
