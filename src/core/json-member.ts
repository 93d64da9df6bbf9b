/**
 * The exact text of one top-level member of a JSON object (or of each element of an array), found by
 * scanning rather than parsing.
 *
 * A Batch Item is stored as its whole input line; its Engine call sends the line's `body`. Parsing the line
 * and serializing `body` again cost about 2% of the Batch hot path's CPU (issue 11), while the body's own
 * bytes are right there in the line: with them kept (core/json.ts keepJsonText) the body goes upstream as
 * the user wrote it. Only for text that is valid JSON (a stored line passed validation and JSON.parse):
 * the scan trusts the syntax and only tracks strings and nesting.
 */

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const COLON = 0x3a;
const COMMA = 0x2c;
const OPEN_OBJECT = 0x7b;
const CLOSE_OBJECT = 0x7d;
const OPEN_ARRAY = 0x5b;
const CLOSE_ARRAY = 0x5d;
/** A quote, bracket or brace: what a value's nesting can change at. */
const STRUCTURAL = /["[\]{}]/g;

/**
 * The text of the value of top-level member `key` of the JSON object `text`, or null when there is none.
 * As JSON.parse, a key given twice means its last value. Null (callers fall back to serializing) for keys
 * written with escapes, which this does not decode, and for anything that is not an object.
 */
export function topLevelMemberText(text: string, key: string): string | null {
  let at = skipSpace(text, 0);
  if (text.charCodeAt(at) !== OPEN_OBJECT) return null;
  at += 1;
  let found: string | null = null;
  for (;;) {
    at = skipSpace(text, at);
    const next = text.charCodeAt(at);
    if (next === CLOSE_OBJECT) return found;
    if (next === COMMA) {
      at += 1;
      continue;
    }
    if (next !== QUOTE) return null;
    const keyEnd = stringEnd(text, at);
    if (keyEnd < 0) return null;
    const name = text.slice(at + 1, keyEnd - 1);
    if (name.includes("\\")) return null;
    at = skipSpace(text, keyEnd);
    if (text.charCodeAt(at) !== COLON) return null;
    at = skipSpace(text, at + 1);
    const valueEnd = valueEndOf(text, at);
    if (valueEnd < 0) return null;
    if (name === key) found = text.slice(at, valueEnd);
    at = valueEnd;
  }
}

/**
 * The texts of the elements of the JSON array `text`, in order, or null when it is not an array. Used to
 * give each member of a packed embedding call the upstream's own bytes of its vector (engines/packing/).
 */
export function arrayElementTexts(text: string): string[] | null {
  let at = skipSpace(text, 0);
  if (text.charCodeAt(at) !== OPEN_ARRAY) return null;
  at += 1;
  const elements: string[] = [];
  for (;;) {
    at = skipSpace(text, at);
    const next = text.charCodeAt(at);
    if (next === CLOSE_ARRAY) return elements;
    if (next === COMMA) {
      at += 1;
      continue;
    }
    const end = valueEndOf(text, at);
    // No progress (the text ended, or a stray delimiter): not an array this scan can read.
    if (end <= at) return null;
    elements.push(text.slice(at, end));
    at = end;
  }
}

function skipSpace(text: string, from: number): number {
  let at = from;
  for (;;) {
    const code = text.charCodeAt(at);
    // JSON whitespace: space, tab, line feed, carriage return.
    if (code !== 0x20 && code !== 0x09 && code !== 0x0a && code !== 0x0d) return at;
    at += 1;
  }
}

/**
 * The index just past the string starting at `from` (a quote), or -1 if it never ends. Jumps from quote to
 * quote (indexOf is native, and prompts make most of a line string content): a quote ends the string unless
 * an odd number of backslashes precedes it.
 */
export function stringEnd(text: string, from: number): number {
  let at = from + 1;
  for (;;) {
    const quote = text.indexOf('"', at);
    if (quote < 0) return -1;
    let backslashes = 0;
    while (text.charCodeAt(quote - 1 - backslashes) === BACKSLASH) backslashes += 1;
    if (backslashes % 2 === 0) return quote + 1;
    at = quote + 1;
  }
}

/** The index just past the value starting at `from`, or -1 for text that ends first. */
function valueEndOf(text: string, from: number): number {
  const first = text.charCodeAt(from);
  if (first === QUOTE) return stringEnd(text, from);
  if (first !== OPEN_OBJECT && first !== OPEN_ARRAY) {
    // A number, true, false or null: up to the next delimiter.
    let at = from;
    while (at < text.length) {
      const code = text.charCodeAt(at);
      if (code === COMMA || code === CLOSE_OBJECT || code === CLOSE_ARRAY || code === 0x20 || code === 0x09 || code === 0x0a || code === 0x0d) break;
      at += 1;
    }
    return at;
  }
  // From one structural character to the next: the regex skips numbers, literals, commas and spacing
  // natively (an embedding's vector is thousands of digits with no structure inside), strings are jumped
  // quote to quote. `test` on a global regex sets lastIndex just past the match and allocates nothing.
  let depth = 0;
  STRUCTURAL.lastIndex = from;
  while (STRUCTURAL.test(text)) {
    const at = STRUCTURAL.lastIndex - 1;
    const code = text.charCodeAt(at);
    if (code === QUOTE) {
      const end = stringEnd(text, at);
      if (end < 0) return -1;
      STRUCTURAL.lastIndex = end;
    } else if (code === OPEN_OBJECT || code === OPEN_ARRAY) {
      depth += 1;
    } else {
      depth -= 1;
      if (depth === 0) return at + 1;
    }
  }
  return -1;
}
