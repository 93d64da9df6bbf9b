/**
 * Batch → Gemini long-running Operation (`{name, metadata: GenerateContentBatch, done, response | error}`).
 *
 * The SDK builds its BatchJob only from `name` and `metadata` (state, times, model, displayName and
 * `metadata.output` as `dest`); `done`, `response`, `error` and `batchStats` serve REST clients. Results
 * therefore always go under `metadata.output`, mirrored in `response` when the batch succeeded.
 */
import { formatDuration } from "../../core/durations.ts";
import type { Batch, BatchStatus } from "../../core/types.ts";
import { isTerminal } from "../../core/types.ts";
import { RPC_CODES } from "./errors.ts";
import { int64, toTimestamp, type Json } from "./wire.ts";

const TYPE_PREFIX = "type.googleapis.com/google.ai.generativelanguage.v1main.";

/** Core status → REST state. CANCELLING is never emitted: SDK loops would not recognise it as terminal. */
const STATE_BY_STATUS: Record<BatchStatus, string> = {
  validating: "BATCH_STATE_PENDING",
  in_progress: "BATCH_STATE_RUNNING",
  finalizing: "BATCH_STATE_RUNNING",
  cancelling: "BATCH_STATE_RUNNING",
  completed: "BATCH_STATE_SUCCEEDED",
  failed: "BATCH_STATE_FAILED",
  cancelled: "BATCH_STATE_CANCELLED",
  expired: "BATCH_STATE_EXPIRED",
};

export function batchState(status: BatchStatus): string {
  return STATE_BY_STATUS[status];
}

export function batchName(batch: Batch): string {
  return `batches/${batch.id}`;
}

function batchStats(batch: Batch): Json {
  const { total, succeeded, failed, cancelled, expired } = batch.counts;
  const requestCount = total > 0 ? total : typeof batch.options.requestCount === "number" ? batch.options.requestCount : 0;
  // Items that will never run (cancelled, expired) count as failed requests: successful + failed + pending
  // must add up to requestCount, and they are not pending.
  const failedCount = failed + cancelled + expired;
  const pending = Math.max(0, requestCount - succeeded - failedCount);
  return {
    requestCount: int64(requestCount),
    successfulRequestCount: int64(succeeded),
    failedRequestCount: int64(failedCount),
    pendingRequestCount: int64(pending),
  };
}

function endTimeMs(batch: Batch): number | null {
  return batch.completedAtMs ?? batch.failedAtMs ?? batch.cancelledAtMs ?? batch.expiredAtMs ?? null;
}

function failureError(batch: Batch): Json | null {
  switch (batch.status) {
    case "failed": {
      const errors = batch.errors ?? [];
      const missingFile = errors.some((error) => error.code === "file_not_found");
      const listed = errors.slice(0, 20).map((error) => error.message);
      const more = errors.length > listed.length ? ` (${errors.length - listed.length} more)` : "";
      const message = listed.length > 0 ? `The batch failed: ${listed.join(" ")}${more}` : "The batch failed.";
      const violations = errors.filter((error) => error.param !== null).slice(0, 100).map((error) => ({ field: error.param, description: error.message }));
      const details = violations.length > 0 ? [{ "@type": "type.googleapis.com/google.rpc.BadRequest", fieldViolations: violations }] : [];
      // A Batch spool itself could not validate (validate-batch.ts) is an INTERNAL failure, not the input's.
      const internal = errors.some((error) => error.code === "internal_error");
      return { code: missingFile ? RPC_CODES.NOT_FOUND : internal ? RPC_CODES.INTERNAL : RPC_CODES.INVALID_ARGUMENT, message, details };
    }
    case "cancelled":
      return { code: RPC_CODES.CANCELLED, message: "The batch was cancelled; requests that finished before are in the output." };
    case "expired":
      // The window is 48h unless the operator configured another (scheduling.defaultWindow.gemini).
      return {
        code: RPC_CODES.DEADLINE_EXCEEDED,
        message: `The batch expired before all its requests ran (its window is ${formatDuration(batch.expiresAtMs - batch.createdAtMs)}); requests that finished are in the output.`,
      };
    default:
      return null;
  }
}

export interface OperationOptions {
  /** Inline results (in input order), for an inline batch that has them; omitted in list items. */
  inlinedResponses?: Json[] | null;
}

export function toGeminiOperation(batch: Batch, options: OperationOptions = {}): Json {
  const embedding = batch.kind === "embedding";
  const name = batchName(batch);
  const metadata: Json = {
    "@type": `${TYPE_PREFIX}${embedding ? "EmbedContentBatch" : "GenerateContentBatch"}`,
    model: `models/${batch.model ?? ""}`,
    displayName: batch.displayName ?? name,
  };
  // Google's schema requires inputConfig on every batch. Inline requests are not echoed back (they may be
  // megabytes, read on every poll): an inline batch shows an empty InlinedRequests; batchStats counts them.
  metadata.inputConfig = batch.options.inline !== true && batch.inputFileId !== null ? { fileName: `files/${batch.inputFileId}` } : { requests: {} };

  let output: Json | null = null;
  if (batch.options.inline === true) {
    if (options.inlinedResponses) output = { inlinedResponses: { inlinedResponses: options.inlinedResponses } };
  } else if (batch.outputFileId !== null) {
    output = { responsesFile: `files/${batch.outputFileId}` };
  }
  if (output !== null) metadata.output = output;

  metadata.createTime = toTimestamp(batch.createdAtMs);
  metadata.updateTime = toTimestamp(batch.updatedAtMs);
  const end = endTimeMs(batch);
  if (end !== null && isTerminal(batch.status)) metadata.endTime = toTimestamp(end);
  metadata.batchStats = batchStats(batch);
  metadata.state = batchState(batch.status);
  if (batch.priority !== 0) metadata.priority = int64(batch.priority);
  metadata.name = name;

  const operation: Json = { name, metadata, done: isTerminal(batch.status) };
  if (batch.status === "completed" && output !== null) {
    operation.response = { "@type": `${TYPE_PREFIX}${embedding ? "EmbedContentBatchOutput" : "GenerateContentBatchOutput"}`, ...output };
  }
  const error = failureError(batch);
  if (error !== null) operation.error = error;
  return operation;
}
