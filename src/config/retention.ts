/**
 * `retention`: how long spool keeps what an ended Batch leaves behind in its Store (migration 020). Result
 * Files have their own expiry (OpenAI's `expires_after` / `output_expires_after`, 30 days by default).
 */
import { z } from "zod";
import { parseDuration } from "../core/durations.ts";

/**
 * Anthropic keeps a Message Batch's results 29 days after its creation, then archives it; OpenAI's result
 * Files expire after 30 days by default. The same 29 days for every dialect: by then the Files that held
 * the same lines are about to go too.
 */
export const DEFAULT_BATCH_RESULTS_RETENTION = "29d";

const retentionText = z.string().superRefine((text, ctx) => {
  if (text !== "never" && parseDuration(text) === null) ctx.addIssue({ code: "custom", message: `must be a duration like "29d", "36h" or "90d", or "never"` });
});

export const retentionSchema = z
  .strictObject({
    /**
     * An ended Batch's requests and results (its Items) are kept this long after the Batch was created,
     * then the Batch is archived (Anthropic's `archived_at`) and they are deleted: results endpoints answer
     * that they are gone and failed requests can no longer be retried. The Batch's record, counts and
     * usage stay. `never` keeps them forever.
     */
    batchResults: retentionText.optional(),
  })
  .optional();

export interface Retention {
  /** How long after its creation an ended Batch keeps its Items; null: forever. */
  batchResultsMs: number | null;
}

export function resolveRetention(retention: z.infer<typeof retentionSchema>): Retention {
  const text = retention?.batchResults ?? DEFAULT_BATCH_RESULTS_RETENTION;
  return { batchResultsMs: text === "never" ? null : parseDuration(text) };
}
