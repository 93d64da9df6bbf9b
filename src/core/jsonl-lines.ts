/**
 * Splits a byte stream into JSONL lines without ever holding more than one line (plus one chunk) in
 * memory, so validating a multi-gigabyte file keeps RSS flat.
 *
 * Yields lines in batches (one array per input chunk): an async generator step per line costs more than
 * the JSON.parse of a short line, and validation must keep pace with a bare readline loop.
 *
 * Handles `\n` and `\r\n`, and drops a UTF-8 byte order mark before the first line (files saved by
 * Windows tools start with one, and JSON.parse rejects it as an invisible stray character); reports (instead of throwing) lines longer than `maxLineBytes` (their bytes are
 * skipped as they stream past, never buffered) and lines that are not valid UTF-8. A final line without a
 * newline counts; a trailing empty line does not.
 */
import { isUtf8 } from "node:buffer";

export type LineEvent =
  | { lineNumber: number; text: string; byteLength: number }
  | { lineNumber: number; problem: "line_too_long" | "invalid_utf8"; byteLength: number };

const NEWLINE = 0x0a;
const CARRIAGE_RETURN = 0x0d;
const UTF8_BOM = Buffer.from([0xef, 0xbb, 0xbf]);

function startsWithBom(bytes: Buffer): boolean {
  return bytes.length >= UTF8_BOM.length && bytes[0] === UTF8_BOM[0] && bytes[1] === UTF8_BOM[1] && bytes[2] === UTF8_BOM[2];
}

export async function* readJsonlLines(
  source: AsyncIterable<Uint8Array>,
  options: { maxLineBytes: number },
): AsyncGenerator<LineEvent[]> {
  const { maxLineBytes } = options;
  let pending: Buffer[] = [];
  let pendingBytes = 0;
  let oversized = false; // the current line already passed maxLineBytes: drop its bytes as they come
  let lineNumber = 0;

  const finishLine = (events: LineEvent[], tail: Buffer): void => {
    lineNumber += 1;
    const byteLength = pendingBytes + tail.length;
    if (oversized || byteLength > maxLineBytes) {
      events.push({ lineNumber, problem: "line_too_long", byteLength });
    } else {
      let bytes = pending.length === 0 ? tail : Buffer.concat([...pending, tail], byteLength);
      if (lineNumber === 1 && startsWithBom(bytes)) bytes = bytes.subarray(UTF8_BOM.length);
      if (bytes.length > 0 && bytes[bytes.length - 1] === CARRIAGE_RETURN) bytes = bytes.subarray(0, bytes.length - 1);
      events.push(toEvent(lineNumber, bytes));
    }
    pending = [];
    pendingBytes = 0;
    oversized = false;
  };

  for await (const chunk of source) {
    const buffer = Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
    const events: LineEvent[] = [];
    let start = 0;
    let newline = buffer.indexOf(NEWLINE, start);
    while (newline !== -1) {
      finishLine(events, buffer.subarray(start, newline));
      start = newline + 1;
      newline = buffer.indexOf(NEWLINE, start);
    }
    if (start < buffer.length) {
      const rest = buffer.subarray(start);
      pendingBytes += rest.length;
      if (oversized || pendingBytes > maxLineBytes) {
        oversized = true;
        pending = [];
      } else {
        // Copy: the stream may reuse its chunk buffer after we yield.
        pending.push(Buffer.from(rest));
      }
    }
    if (events.length > 0) yield events;
  }
  if (pendingBytes > 0 || oversized) {
    const events: LineEvent[] = [];
    finishLine(events, Buffer.alloc(0));
    yield events;
  }
}

function toEvent(lineNumber: number, bytes: Buffer): LineEvent {
  const text = bytes.toString("utf8");
  // toString replaces bad sequences with U+FFFD silently; only then pay for the exact check (a genuine
  // U+FFFD in the input is valid and must pass).
  if (text.includes("\uFFFD") && !isUtf8(bytes)) {
    return { lineNumber, problem: "invalid_utf8", byteLength: bytes.length };
  }
  return { lineNumber, text, byteLength: bytes.length };
}

/** True for lines that carry no request (blank or whitespace only). */
export function isBlankLine(text: string): boolean {
  return text.length === 0 || text.trim().length === 0;
}
