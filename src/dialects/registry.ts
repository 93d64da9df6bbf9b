/** The BatchFormat of each dialect, by Dialect. Kept apart from app.ts so local commands load no engines. */
import type { BatchFormat, BatchFormats, SniffedLine } from "../core/batch-format.ts";
import type { Dialect } from "../core/types.ts";
import { anthropicBatchFormat } from "./anthropic/batch-format.ts";
import { geminiBatchFormat } from "./gemini/batch-format.ts";
import { openAIBatchFormat } from "./openai/batch-format.ts";
import { stripModelsPrefix } from "./gemini/wire.ts";

export const BATCH_FORMATS: BatchFormats = {
  openai: openAIBatchFormat,
  gemini: geminiBatchFormat,
  anthropic: anthropicBatchFormat,
};

/**
 * Order in which dialects are asked to recognise a line: Anthropic's `params` (with no `url` or `body`) first,
 * since its lines share their id field with OpenAI's; then OpenAI's fields, the more specific than Gemini's.
 */
const SNIFF_ORDER: readonly Dialect[] = ["anthropic", "openai", "gemini"];

/** The dialect whose lines look like `record`, with its endpoint; null when none recognises it. */
export function sniffDialect(record: Record<string, unknown>): (SniffedLine & { format: BatchFormat }) | null {
  for (const dialect of SNIFF_ORDER) {
    const format = BATCH_FORMATS[dialect];
    const sniffed = format.sniffLine(record);
    if (sniffed) return { ...sniffed, format };
  }
  return null;
}

export function isDialect(value: string): value is Dialect {
  return Object.hasOwn(BATCH_FORMATS, value);
}

/** Other spellings of model names that clients of some dialect use (for ModelCatalog's `nameForms`). */
export const MODEL_NAME_FORMS: readonly ((name: string) => string)[] = [stripModelsPrefix];
