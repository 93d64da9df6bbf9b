/** `spool run`'s input rewriting (`--model`) and its output file (every result line in input order, atomically). */
import { createWriteStream } from "node:fs";
import { rename } from "node:fs/promises";
import { isUtf8 } from "node:buffer";
import { once } from "node:events";
import type { BatchService } from "../../batches/batch-service.ts";
import type { BatchFormat } from "../../core/batch-format.ts";
import { isObject as isRecord } from "../../core/json.ts";
import type { Batch } from "../../core/types.ts";

/**
 * Rewrites each line's model (as its dialect's BatchFormat places it). Lines that are
 * not JSON objects, not UTF-8 or too long pass through byte for byte, so validation reports them exactly
 * as `spool validate` would, with the same line numbers.
 */
export async function* replaceModels(source: AsyncIterable<Buffer>, format: BatchFormat, model: string, maxLineBytes: number): AsyncGenerator<Buffer> {
  const rewrite = (bytes: Buffer): Buffer => {
    if (!isUtf8(bytes)) return bytes;
    let value: unknown;
    try {
      value = JSON.parse(bytes.toString("utf8"));
    } catch {
      return bytes;
    }
    if (!isRecord(value) || !format.setLineModel(value, model)) return bytes;
    return Buffer.from(JSON.stringify(value));
  };
  const newline = Buffer.from("\n");
  let pending: Buffer[] = [];
  let pendingBytes = 0;
  let passThrough = false; // the current line is longer than any valid line: stream it unchanged
  for await (const chunk of source) {
    const out: Buffer[] = [];
    let start = 0;
    for (let end = chunk.indexOf(0x0a, start); end !== -1; end = chunk.indexOf(0x0a, start)) {
      const piece = chunk.subarray(start, end);
      out.push(passThrough ? piece : rewrite(pending.length === 0 ? piece : Buffer.concat([...pending, piece])), newline);
      pending = [];
      pendingBytes = 0;
      passThrough = false;
      start = end + 1;
    }
    const rest = chunk.subarray(start);
    if (passThrough) out.push(rest);
    else if (rest.length > 0) {
      pending.push(Buffer.from(rest));
      pendingBytes += rest.length;
      if (pendingBytes > maxLineBytes) {
        out.push(...pending);
        pending = [];
        passThrough = true;
      }
    }
    if (out.length > 0) yield Buffer.concat(out);
  }
  if (pending.length > 0) yield rewrite(Buffer.concat(pending));
}

/** Every result line (successes and errors) in input order, written atomically. */
export async function writeOutput(batches: BatchService, format: BatchFormat, output: string, batch: Batch): Promise<number> {
  const temporary = `${output}.part`;
  const out = createWriteStream(temporary);
  let lines = 0;
  for await (const items of batches.finishedResults(batch.id)) {
    const text = items.map((item) => `${format.resultLine(batch, item).line}\n`);
    lines += text.length;
    if (!out.write(text.join(""))) await once(out, "drain");
  }
  out.end();
  await once(out, "finish");
  await rename(temporary, output);
  return lines;
}
