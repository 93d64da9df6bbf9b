/** Guesses a batch file's dialect and endpoint from its first request line (for the local commands). */
import { createReadStream } from "node:fs";
import { createInterface } from "node:readline";
import type { Dialect, RequestKind } from "../core/types.ts";

export interface SniffResult {
  dialect: Dialect;
  endpoint: string | null;
  kind: RequestKind;
}

const KIND_BY_ENDPOINT: Record<string, RequestKind> = {
  "/v1/chat/completions": "chat",
  "/v1/embeddings": "embedding",
  "/v1/completions": "completion",
};

export async function sniffBatchFile(file: string): Promise<SniffResult> {
  const lines = createInterface({ input: createReadStream(file, { end: 4 * 1024 * 1024 }), crlfDelay: Infinity });
  try {
    for await (const rawLine of lines) {
      // A byte order mark (files saved by Windows tools) is not part of the first line's JSON.
      const line = rawLine.replace(/^\uFEFF/, "");
      if (line.trim() === "") continue;
      let first: unknown;
      try {
        first = JSON.parse(line);
      } catch {
        break;
      }
      if (first === null || typeof first !== "object") break;
      const record = first as Record<string, unknown>;
      if ("custom_id" in record || "url" in record) {
        const endpoint = typeof record.url === "string" ? record.url : null;
        return { dialect: "openai", endpoint, kind: (endpoint && KIND_BY_ENDPOINT[endpoint]) || "chat" };
      }
      const request = record.request as Record<string, unknown> | undefined;
      const isEmbedding = !!request && typeof request === "object" && "content" in request && !("contents" in request);
      return { dialect: "gemini", endpoint: isEmbedding ? "embedContent" : "generateContent", kind: isEmbedding ? "embedding" : "chat" };
    }
  } finally {
    lines.close();
  }
  return { dialect: "openai", endpoint: null, kind: "chat" };
}
