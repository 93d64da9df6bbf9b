/** Guesses a batch file's dialect and endpoint from its first request line (for the local commands). */
import { createReadStream } from "node:fs";
import { createInterface } from "node:readline";
import type { BatchFormat } from "../core/batch-format.ts";
import type { RequestKind } from "../core/types.ts";
import { BATCH_FORMATS, sniffDialect } from "../dialects/registry.ts";

export interface SniffResult {
  format: BatchFormat;
  /** Null when the file has no recognisable request line (validation then reports why). */
  endpoint: string | null;
  kind: RequestKind;
}

export async function sniffBatchFile(file: string): Promise<SniffResult> {
  const lines = createInterface({ input: createReadStream(file, { end: 4 * 1024 * 1024 }), crlfDelay: Infinity });
  try {
    for await (const line of lines) {
      if (line.trim() === "") continue;
      let first: unknown;
      try {
        first = JSON.parse(line.replace(/^\uFEFF/, ""));
      } catch {
        break;
      }
      if (first === null || typeof first !== "object" || Array.isArray(first)) break;
      // A line no dialect recognises is checked as Gemini's, whose errors name the missing `request`.
      return sniffDialect(first as Record<string, unknown>) ?? { format: BATCH_FORMATS.gemini, endpoint: "batchGenerateContent", kind: "chat" };
    }
  } finally {
    lines.close();
  }
  return { format: BATCH_FORMATS.openai, endpoint: null, kind: "chat" };
}
