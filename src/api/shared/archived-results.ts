/**
 * Results of an archived Batch (retention, migration 020) are gone: every route that reads a Batch's Items
 * asks here first, before it starts a reply, so a client gets one clear error in its dialect's shape rather
 * than an empty or cut result stream.
 */
import { AppError } from "../../core/errors.ts";
import type { Batch } from "../../core/types.ts";
import { publicBatchId } from "../../dialects/public-batch-id.ts";

export function requireResultsKept(batch: Batch): void {
  if (batch.archivedAtMs === null) return;
  throw new AppError(
    "not_found",
    `The results of batch ${publicBatchId(batch)} are no longer kept: it was archived on ${new Date(batch.archivedAtMs).toISOString()}, when the ` +
      "retention period after its creation (retention.batchResults) ran out. Its output and error files hold the same lines until they expire.",
  );
}
