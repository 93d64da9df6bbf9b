/**
 * A Batch's id as the clients of its dialect know it, for the dashboard, the terminal commands and webhook
 * events: OpenAI's `batch_...` as stored; Gemini's resource name `batches/batch_...`. A dialect without its
 * own form uses the stored id.
 */
import type { Batch, Dialect } from "../core/types.ts";
import { batchName } from "./gemini/operations.ts";

const FORMS: Partial<Record<Dialect, (batch: Batch) => string>> = {
  gemini: batchName,
};

export function publicBatchId(batch: Batch): string {
  return FORMS[batch.dialect]?.(batch) ?? batch.id;
}

/** The stored id for an id given in any dialect's form (a Gemini name loses its `batches/`). */
export function storedBatchId(id: string): string {
  return id.startsWith("batches/") ? id.slice("batches/".length) : id;
}
