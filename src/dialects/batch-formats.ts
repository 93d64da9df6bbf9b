/** The BatchFormat of each dialect, by Dialect. Kept apart from app.ts so local commands load no engines. */
import type { BatchFormat } from "../core/batch-format.ts";
import { geminiBatchFormat } from "./gemini/batch-format.ts";
import { openAIBatchFormat } from "./openai/batch-format.ts";

export function batchFormats(): Map<string, BatchFormat> {
  return new Map<string, BatchFormat>([
    ["openai", openAIBatchFormat],
    ["gemini", geminiBatchFormat],
  ]);
}
