/**
 * The nesting limit for JSON that clients send (request bodies, batch input lines), and the scan that
 * enforces it on the raw text before anything recursive touches the value.
 *
 * V8's JSON.parse copes with any depth, but JSON.stringify, structured clone and every recursive walk
 * (request translation, schema conversion) overflow the stack somewhere past a few thousand levels, and
 * they run long after the request was accepted: a body 100,000 levels deep became an internal error in the
 * Engine, and a batch line became an Item that failed with no line number. Real bodies stay far below the
 * limit: the deepest seen in practice are JSON Schemas in `response_format` / `responseJsonSchema` and
 * tool parameters, where each nested object property costs two levels (`properties.name`) and ten levels
 * of schema nesting (OpenAI's own structured-output limit) come to about 25.
 *
 * The check costs two `indexOf` passes over the text for ordinary lines: a text cannot nest deeper than
 * its count of `{` and `[`, so only texts holding more than the limit are scanned properly (strings
 * skipped), and only texts really too deep pay for the slower scan that names the path.
 */
import type { LineError } from "./types.ts";

export const MAX_JSON_NESTING = 128;

export interface ExcessiveNesting {
  /** Path of the first container past the limit, cut to its first segments: `body.messages[0].content`. */
  path: string;
  /** True when `path` was cut short. */
  truncated: boolean;
}

/** Segments of the path kept in messages and `param`: enough to find the field, short enough to read. */
const SHOWN_SEGMENTS = 8;
const SHOWN_KEY_CHARS = 64;

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const OPEN_BRACE = 0x7b;
const CLOSE_BRACE = 0x7d;
const OPEN_BRACKET = 0x5b;
const CLOSE_BRACKET = 0x5d;
const COMMA = 0x2c;
const COLON = 0x3a;

/** Null when `text` nests at most `limit` levels (or is not JSON deep enough to tell). */
export function findExcessiveNesting(text: string, limit = MAX_JSON_NESTING): ExcessiveNesting | null {
  if (countOpenings(text, limit) <= limit) return null;
  if (!nestsDeeperThan(text, limit)) return null;
  return pathPastLimit(text, limit);
}

/** `{` plus `[`, counted only until the count passes `limit`. */
function countOpenings(text: string, limit: number): number {
  let count = 0;
  for (const opening of ["{", "["]) {
    let at = text.indexOf(opening);
    while (at !== -1) {
      count += 1;
      if (count > limit) return count;
      at = text.indexOf(opening, at + 1);
    }
  }
  return count;
}

/** Index of the quote closing the string opened at `start`, or -1. */
function stringEnd(text: string, start: number): number {
  let at = start;
  for (;;) {
    const quote = text.indexOf('"', at + 1);
    if (quote === -1) return -1;
    let backslashes = 0;
    while (text.charCodeAt(quote - 1 - backslashes) === BACKSLASH) backslashes += 1;
    if (backslashes % 2 === 0) return quote;
    at = quote;
  }
}

function nestsDeeperThan(text: string, limit: number): boolean {
  let depth = 0;
  for (let at = 0; at < text.length; at += 1) {
    const code = text.charCodeAt(at);
    if (code === QUOTE) {
      at = stringEnd(text, at);
      if (at === -1) return false;
    } else if (code === OPEN_BRACE || code === OPEN_BRACKET) {
      depth += 1;
      if (depth > limit) return true;
    } else if (code === CLOSE_BRACE || code === CLOSE_BRACKET) {
      depth -= 1;
    }
  }
  return false;
}

interface Frame {
  array: boolean;
  /** The member or element this container holds right now (object key or array index). */
  member: string | number | null;
  expectingKey: boolean;
}

/** The slow scan, run only on texts known to be too deep: tracks keys and indexes to name the path. */
function pathPastLimit(text: string, limit: number): ExcessiveNesting {
  const frames: Frame[] = [];
  for (let at = 0; at < text.length; at += 1) {
    const code = text.charCodeAt(at);
    const top = frames.at(-1);
    if (code === QUOTE) {
      const end = stringEnd(text, at);
      if (end === -1) break;
      if (top && !top.array && top.expectingKey) {
        top.member = decodeKey(text.slice(at, end + 1));
        top.expectingKey = false;
      }
      at = end;
    } else if (code === OPEN_BRACE || code === OPEN_BRACKET) {
      if (top?.array && top.member === null) top.member = 0;
      if (frames.length === limit) return describePath(frames);
      frames.push({ array: code === OPEN_BRACKET, member: null, expectingKey: code === OPEN_BRACE });
    } else if (code === CLOSE_BRACE || code === CLOSE_BRACKET) {
      frames.pop();
    } else if (code === COMMA && top) {
      if (top.array) top.member = typeof top.member === "number" ? top.member + 1 : 1;
      else top.expectingKey = true;
    } else if (code === COLON && top && !top.array) {
      top.expectingKey = false;
    }
  }
  return describePath(frames);
}

function decodeKey(quoted: string): string {
  let key: string;
  try {
    key = JSON.parse(quoted) as string;
  } catch {
    key = quoted.slice(1, -1);
  }
  return key.length > SHOWN_KEY_CHARS ? `${key.slice(0, SHOWN_KEY_CHARS)}…` : key;
}

function describePath(frames: readonly Frame[]): ExcessiveNesting {
  let path = "";
  const shown = frames.slice(0, SHOWN_SEGMENTS);
  for (const frame of shown) {
    if (typeof frame.member === "number") path += `[${frame.member}]`;
    else if (frame.member !== null) path += path === "" ? frame.member : `.${frame.member}`;
  }
  return { path, truncated: frames.length > shown.length };
}

/** " at body.response_format.json_schema…" for messages; empty when the root itself is too deep. */
export function describeNesting(found: ExcessiveNesting): string {
  return found.path === "" ? "" : ` at ${found.path}${found.truncated ? "…" : ""}`;
}

/** The LineError of a batch input line nested too deeply (same code and wording in every dialect). */
export function nestingLineError(lineNumber: number, found: ExcessiveNesting): LineError {
  return {
    line: lineNumber,
    code: "json_too_deep",
    param: found.path === "" ? null : found.path,
    message: `Line ${lineNumber} nests JSON deeper than ${MAX_JSON_NESTING} levels${describeNesting(found)}; spool accepts at most ${MAX_JSON_NESTING} levels of objects and arrays.`,
  };
}
