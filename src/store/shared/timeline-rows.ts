/** Rows of the timeline query (both stores) as TimelineBuckets. */
import type { TimelineBucket } from "../store-insights.ts";

export interface TimelineRow {
  bucket: number;
  succeeded: number;
  failed: number;
  input_tokens: number;
  output_tokens: number;
}

export function toTimelineBuckets(rows: readonly TimelineRow[], params: { startMs: number; bucketMs: number }): TimelineBucket[] {
  return rows.map((row) => ({
    startMs: params.startMs + row.bucket * params.bucketMs,
    succeeded: row.succeeded,
    failed: row.failed,
    inputTokens: row.input_tokens,
    outputTokens: row.output_tokens,
  }));
}
