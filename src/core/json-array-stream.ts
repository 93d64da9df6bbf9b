/**
 * Reads one array field of a JSON object body as it streams in, handing over each element's own text, so a
 * body of 100,000 requests never sits in memory whole (only the element being read, bounded). Used for
 * Anthropic's `{"requests": [...]}` Message Batch bodies, which the service accepts up to 256 MB.
 *
 * A byte-level scanner, not a JSON parser: it tracks strings (and their escapes) and nesting depth, which is
 * all it takes to find where each element ends; each element is then parsed by the caller with JSON.parse,
 * which judges it. The structure around the elements (the object, its keys, colons and commas) is checked
 * here, and a malformed body fails with the byte offset where it went wrong. Other fields of the object are
 * reported by name and their values skipped. Structural characters are ASCII, so scanning UTF-8 bytes is safe.
 */

export class JsonStreamError extends Error {
  constructor(
    message: string,
    /** Byte offset in the body. */
    readonly offset: number,
  ) {
    super(message);
    this.name = "JsonStreamError";
  }
}

export type ArrayFieldEvent =
  /** The array field's value began (it is a list, perhaps an empty one). */
  | { kind: "array" }
  /** One element of the array field, as JSON text; null when it is longer than `maxElementBytes`. */
  | { kind: "element"; index: number; text: string | null; bytes: number }
  /** A field of the object other than the array field (its value skipped). */
  | { kind: "field"; name: string }
  /** The array field's value is not an array (its value skipped). */
  | { kind: "not-array" };

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const COMMA = 0x2c;
const COLON = 0x3a;
const OPEN_OBJECT = 0x7b;
const CLOSE_OBJECT = 0x7d;
const OPEN_ARRAY = 0x5b;
const CLOSE_ARRAY = 0x5d;

const isSpace = (byte: number): boolean => byte === 0x20 || byte === 0x0a || byte === 0x0d || byte === 0x09;

type Phase = "start" | "key-or-end" | "key" | "colon" | "value-start" | "value" | "after-value" | "element-start" | "after-element" | "done";

/** The scanner as a state machine fed chunk by chunk; `readArrayField` drives it over a stream. */
export class ArrayFieldScanner {
  private phase: Phase = "start";
  private offset = 0;
  /** A `,` was just read: the next key (or element) is required. */
  private afterComma = false;
  private key: number[] = [];
  private keyEscaped = false;
  // The value being scanned.
  private keep = false;
  private depth = 0;
  private inString = false;
  private escaped = false;
  /** "container" | "string" | "scalar": how the value ends. */
  private shape: "container" | "string" | "scalar" = "scalar";
  private parts: Buffer[] = [];
  private size = 0;
  private index = 0;

  constructor(
    private readonly field: string,
    private readonly maxElementBytes: number,
  ) {}

  push(chunk: Uint8Array): ArrayFieldEvent[] {
    const bytes = Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
    const events: ArrayFieldEvent[] = [];
    let segmentStart = this.phase === "value" ? 0 : -1;
    for (let i = 0; i < bytes.length; i += 1, this.offset += 1) {
      const byte = bytes[i] as number;
      switch (this.phase) {
        case "value": {
          const end = this.scan(byte);
          if (end === null) break;
          // `end` is "after" (the byte belongs to the value) or "before" (it is the next token).
          const stop = end === "after" ? i + 1 : i;
          this.collect(bytes.subarray(segmentStart, stop));
          segmentStart = -1;
          events.push(...this.finishValue());
          if (end === "before") {
            i -= 1;
            this.offset -= 1;
          }
          break;
        }
        case "value-start":
        case "element-start":
          if (isSpace(byte)) break;
          if (this.phase === "element-start" && byte === CLOSE_ARRAY && !this.afterComma) {
            this.phase = "after-value";
            break;
          }
          if (this.phase === "value-start") {
            const name = this.takeKey();
            if (name === this.field && byte === OPEN_ARRAY) {
              this.phase = "element-start";
              this.afterComma = false;
              events.push({ kind: "array" });
              break;
            }
            events.push(name === this.field ? { kind: "not-array" } : { kind: "field", name });
          }
          this.startValue(byte, this.phase === "element-start");
          segmentStart = i;
          i -= 1;
          this.offset -= 1;
          break;
        default:
          this.structure(byte);
      }
    }
    if (this.phase === "value" && segmentStart >= 0) this.collect(bytes.subarray(segmentStart));
    return events;
  }

  /** Throws unless the body was one whole object. */
  end(): void {
    if (this.phase === "start") throw new JsonStreamError("The request body is empty; expected a JSON object.", this.offset);
    if (this.phase !== "done") throw new JsonStreamError(`The request body is not valid JSON: it ends early, at byte ${this.offset}.`, this.offset);
  }

  /** Bytes outside any value: the object's braces, keys, colons and commas. */
  private structure(byte: number): void {
    switch (this.phase) {
      case "start":
        if (isSpace(byte)) return;
        if (byte !== OPEN_OBJECT) this.fail("expected a JSON object");
        this.phase = "key-or-end";
        return;
      case "key-or-end":
        if (isSpace(byte)) return;
        if (byte === CLOSE_OBJECT && !this.afterComma) {
          this.phase = "done";
          return;
        }
        if (byte !== QUOTE) this.fail("expected a field name");
        this.phase = "key";
        this.key = [];
        return;
      case "key":
        if (this.keyEscaped) this.keyEscaped = false;
        else if (byte === BACKSLASH) this.keyEscaped = true;
        else if (byte === QUOTE) {
          this.phase = "colon";
          return;
        }
        this.key.push(byte);
        return;
      case "colon":
        if (isSpace(byte)) return;
        if (byte !== COLON) this.fail("expected ':' after a field name");
        this.phase = "value-start";
        return;
      case "after-element":
        if (isSpace(byte)) return;
        if (byte === COMMA) {
          this.phase = "element-start";
          this.afterComma = true;
        } else if (byte === CLOSE_ARRAY) this.phase = "after-value";
        else this.fail("expected ',' or ']' after an element");
        return;
      case "after-value":
        if (isSpace(byte)) return;
        if (byte === COMMA) {
          this.phase = "key-or-end";
          this.afterComma = true;
        } else if (byte === CLOSE_OBJECT) this.phase = "done";
        else this.fail("expected ',' or '}' after a value");
        return;
      case "done":
        if (!isSpace(byte)) this.fail("unexpected text after the JSON object");
        return;
      default:
        return;
    }
  }

  private takeKey(): string {
    const raw = Buffer.from(this.key).toString("utf8");
    this.key = [];
    try {
      return JSON.parse(`"${raw}"`) as string;
    } catch {
      return this.fail("a field name is not a valid JSON string");
    }
  }

  private startValue(first: number, keep: boolean): void {
    this.phase = "value";
    this.keep = keep;
    this.afterComma = false;
    this.depth = 0;
    this.inString = false;
    this.escaped = false;
    this.shape = first === OPEN_OBJECT || first === OPEN_ARRAY ? "container" : first === QUOTE ? "string" : "scalar";
    if (first === CLOSE_OBJECT || first === CLOSE_ARRAY || first === COMMA || first === COLON) this.fail("expected a value");
    this.parts = [];
    this.size = 0;
  }

  /** Advances over one byte of a value; says when the value ended and whether this byte was part of it. */
  private scan(byte: number): "after" | "before" | null {
    if (this.inString) {
      if (this.escaped) this.escaped = false;
      else if (byte === BACKSLASH) this.escaped = true;
      else if (byte === QUOTE) {
        this.inString = false;
        if (this.shape === "string") return "after";
      }
      return null;
    }
    if (this.shape === "scalar") return byte === COMMA || byte === CLOSE_ARRAY || byte === CLOSE_OBJECT || isSpace(byte) ? "before" : null;
    if (byte === QUOTE) this.inString = true;
    else if (byte === OPEN_OBJECT || byte === OPEN_ARRAY) this.depth += 1;
    else if (byte === CLOSE_OBJECT || byte === CLOSE_ARRAY) {
      this.depth -= 1;
      if (this.depth === 0) return "after";
    }
    return null;
  }

  private collect(piece: Buffer): void {
    if (!this.keep || piece.length === 0) return;
    this.size += piece.length;
    if (this.size <= this.maxElementBytes) this.parts.push(Buffer.from(piece));
    else this.parts = [];
  }

  private finishValue(): ArrayFieldEvent[] {
    if (!this.keep) {
      this.phase = "after-value";
      return [];
    }
    this.phase = "after-element";
    const text = this.size <= this.maxElementBytes ? Buffer.concat(this.parts, this.size).toString("utf8") : null;
    const event: ArrayFieldEvent = { kind: "element", index: this.index, text, bytes: this.size };
    this.index += 1;
    this.parts = [];
    return [event];
  }

  private fail(what: string): never {
    throw new JsonStreamError(`The request body is not valid JSON: ${what} at byte ${this.offset}.`, this.offset);
  }
}

/** Events for `field` of the object `source` holds; throws JsonStreamError on a malformed or truncated body. */
export async function* readArrayField(source: AsyncIterable<Uint8Array>, field: string, options: { maxElementBytes: number }): AsyncGenerator<ArrayFieldEvent> {
  const scanner = new ArrayFieldScanner(field, options.maxElementBytes);
  for await (const chunk of source) yield* scanner.push(chunk);
  scanner.end();
}
