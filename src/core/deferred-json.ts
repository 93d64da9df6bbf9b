/**
 * JSON.parse that leaves long arrays of numbers (embedding vectors) as text until something reads them.
 *
 * An embedding reply is almost all vector: 1,536 floats are ~30 KB of digits, and a packed call's reply holds
 * 64 of them. spool parses every reply (usage, ids and the split of a packed call are read from it), yet
 * stores and returns the vectors as the upstream wrote them (decision 0034): parsing them into numbers was
 * most of the main thread's time and garbage for real-size embeddings, and nothing looked at the numbers.
 * Here each such array is cut out of the text before parsing and put back as an accessor that parses it on
 * first read (then becomes a plain data property). What reads the value sees the same array JSON.parse
 * gives, so translation, tests and serialization are unchanged; `deferredMemberText` hands the text to the
 * code that only splices it into a result.
 *
 * Which arrays: those whose whole text, at least DEFER_FROM_CHARS long, is a list of JSON numbers (matched by
 * NUMBER_LIST, JSON's own number grammar: the parse accepts exactly what JSON.parse accepts, and a malformed
 * number still fails it here, not at a later read).
 */
import { stringEnd } from "./json-member.ts";

/** Arrays shorter than this are parsed as usual: deferring a few numbers costs more than it saves. */
export const DEFER_FROM_CHARS = 1_024;

/** A quote, bracket or brace: where a value's nesting can change. */
const STRUCTURAL = /["[\]{}]/g;
/** `[` number (`,` number)* `]` with JSON's spacing, matched from a given position (sticky). */
const NUMBER = String.raw`-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?`;
const NUMBER_LIST = new RegExp(String.raw`\[[ \t\n\r]*${NUMBER}(?:[ \t\n\r]*,[ \t\n\r]*${NUMBER})*[ \t\n\r]*\]`, "y");

const QUOTE = 0x22;
const OPEN_ARRAY = 0x5b;

/**
 * Stands for a cut-out array in the text that is parsed: a string no upstream writes (a NUL and a per-process
 * nonce), followed by the array's number in the cut list.
 */
const MARK = `\u0000spool-deferred-${Math.random().toString(36).slice(2)}:`;
const MARK_JSON = JSON.stringify(MARK).slice(0, -1);
/** A mark as JSON.stringify writes it, with the cut's number captured. */
const MARKS_IN_JSON = new RegExp(`${MARK_JSON.replace(/\\/g, "\\\\")}(\\d+)"`, "g");

/** The deferred texts of an object's members, by key: on the object itself, hidden (see core/json.ts). */
const DEFERRED = Symbol("spool.deferredJson");
type WithDeferred = { [DEFERRED]?: Record<string, string> };

/** Parses `text` as JSON.parse does (and throws as it does), leaving long number arrays unparsed until read. */
export function parseJsonDeferringNumbers(text: string): unknown {
  const ranges = numberArrayRanges(text);
  if (ranges === null || ranges.length === 0) return JSON.parse(text);
  let skeleton = "";
  let from = 0;
  for (let index = 0; index < ranges.length; index += 2) {
    skeleton += `${text.slice(from, ranges[index])}${MARK_JSON}${index / 2}"`;
    from = ranges[index + 1]!;
  }
  skeleton += text.slice(from);
  const holders: { holder: Record<string, unknown>; key: string; cut: number }[] = [];
  const textOf = (cut: number): string => text.slice(ranges[cut * 2], ranges[cut * 2 + 1]);
  const value = JSON.parse(skeleton, function (this: Record<string, unknown> | unknown[], key: string, parsed: unknown) {
    if (typeof parsed !== "string" || !parsed.startsWith(MARK)) return parsed;
    const cut = Number(parsed.slice(MARK.length));
    // An array inside an array (or the whole text) is parsed now: an accessor on an index would turn the
    // holding array into a slow dictionary, and vectors come as members of objects.
    if (Array.isArray(this) || key === "") return JSON.parse(textOf(cut)) as unknown;
    holders.push({ holder: this, key, cut });
    return parsed;
  }) as unknown;
  for (const { holder, key, cut } of holders) deferMember(holder, key, textOf(cut));
  return value;
}

/** The unparsed text of `holder[key]` while it is deferred (nothing has read it yet), else null. */
export function deferredMemberText(holder: object, key: string): string | null {
  return (holder as WithDeferred)[DEFERRED]?.[key] ?? null;
}

/**
 * JSON.stringify of `value` with each member still deferred written as its text, not parsed and written
 * again: for an object built around parsed parts (a packed call's member reply) that is stored as text.
 * Meant for small objects around big vectors: it serializes through a replacer.
 */
export function stringifyKeepingDeferred(value: unknown): string {
  const texts: string[] = [];
  const json = JSON.stringify(value, function (_key: string, member: unknown) {
    const deferred = typeof member === "object" && member !== null ? (member as WithDeferred)[DEFERRED] : undefined;
    if (deferred === undefined) return member;
    // A copy whose deferred members are marks: JSON.stringify reads a member before a replacer sees it.
    const copy: Record<string, unknown> = {};
    for (const key of Object.keys(member as object)) {
      const text = deferred[key];
      copy[key] = text === undefined ? (member as Record<string, unknown>)[key] : `${MARK}${texts.push(text) - 1}`;
    }
    return copy;
  });
  return texts.length === 0 ? json : json.replace(MARKS_IN_JSON, (_mark, index: string) => texts[Number(index)]!);
}

/**
 * Gives `holder[key]` the value `text` parses to, read on demand: the accessor parseJsonDeferringNumbers puts
 * on what it parses, also for building an object around a vector that is only to be written out again (a
 * packed call's member reply).
 */
export function deferMember(holder: Record<string, unknown>, key: string, text: string): void {
  const target = holder as Record<string, unknown> & WithDeferred;
  let texts = target[DEFERRED];
  if (texts === undefined) {
    texts = Object.create(null) as Record<string, string>;
    Reflect.defineProperty(target, DEFERRED, { value: texts, configurable: true });
  }
  texts[key] = text;
  // Redefining an existing key keeps its place in the key order, so serializing gives the same text.
  Reflect.defineProperty(target, key, {
    enumerable: true,
    configurable: true,
    get: () => settle(target, key, JSON.parse(text) as unknown),
    set: (value: unknown) => void settle(target, key, value),
  });
}

/** `holder[key]` becomes a plain data property holding `value` (and is no longer deferred). */
function settle(holder: Record<string, unknown> & WithDeferred, key: string, value: unknown): unknown {
  Reflect.defineProperty(holder, key, { value, writable: true, enumerable: true, configurable: true });
  const texts = holder[DEFERRED];
  if (texts !== undefined) delete texts[key];
  return value;
}

/**
 * Start and end offsets (pairs, in order) of the arrays to defer, or null when the text is not something this
 * scan can read (an unterminated string): then JSON.parse alone decides. One pass: structural characters are
 * found by a native regex scan, strings are jumped quote to quote, and at each `[` a list of numbers is
 * matched whole (NUMBER_LIST, also native) and jumped, so a vector's digits are read once, by the check.
 */
function numberArrayRanges(text: string): number[] | null {
  const ranges: number[] = [];
  if (text.length < DEFER_FROM_CHARS) return ranges;
  STRUCTURAL.lastIndex = 0;
  while (STRUCTURAL.test(text)) {
    const at = STRUCTURAL.lastIndex - 1;
    const code = text.charCodeAt(at);
    if (code === QUOTE) {
      const end = stringEnd(text, at);
      if (end < 0) return null;
      STRUCTURAL.lastIndex = end;
    } else if (code === OPEN_ARRAY) {
      NUMBER_LIST.lastIndex = at;
      if (!NUMBER_LIST.test(text)) continue;
      const end = NUMBER_LIST.lastIndex;
      if (end - at >= DEFER_FROM_CHARS) ranges.push(at, end);
      STRUCTURAL.lastIndex = end;
    }
  }
  return ranges;
}
