/**
 * Results of a Message Batch that failed before any request became an Item (its validation failed inside
 * spool, or its input vanished). The service has no failed state: the Batch reads as `ended` with every
 * request errored (mappers.ts), so its results must list every request as errored too, with the reason.
 * The requests are read back from the Batch's internal input File, one line at a time.
 */
import type { AppContext } from "../../app-context.ts";
import { isObject } from "../../core/json.ts";
import { readJsonlLines } from "../../core/jsonl-lines.ts";
import type { Batch } from "../../core/types.ts";
import { anthropicErrorBody } from "../../dialects/anthropic/errors.ts";
import { BlobNotFoundError } from "../../store/blob-store.ts";

export async function* failedBatchResultLines(ctx: AppContext, batch: Batch): AsyncGenerator<string> {
  if (batch.inputFileId === null) return;
  const reason = (batch.errors ?? []).map((error) => error.message).join(" ") || "The batch could not be run.";
  const result = JSON.stringify({ type: "errored", error: anthropicErrorBody("api_error", reason) });
  let source: AsyncIterable<Uint8Array>;
  try {
    source = await ctx.blobs.read(batch.inputFileId);
  } catch (error) {
    if (error instanceof BlobNotFoundError) return;
    throw error;
  }
  for await (const events of readJsonlLines(source, { maxLineBytes: ctx.config.limits.maxLineBytes })) {
    const lines: string[] = [];
    for (const event of events) {
      if (!("text" in event)) continue;
      const customId = customIdOf(event.text);
      if (customId !== null) lines.push(`{"custom_id":${JSON.stringify(customId)},"result":${result}}\n`);
    }
    if (lines.length > 0) yield lines.join("");
  }
}

function customIdOf(text: string): string | null {
  try {
    const parsed: unknown = JSON.parse(text);
    return isObject(parsed) && typeof parsed.custom_id === "string" ? parsed.custom_id : null;
  } catch {
    return null;
  }
}
