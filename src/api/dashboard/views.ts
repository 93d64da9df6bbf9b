/**
 * What the dashboard's JSON API returns: Batches, Items and webhook deliveries shaped for the page (and for
 * `spool watch` / `spool batches`), dialect-neutral. Batch ids are shown as their clients know them
 * (`publicId`); `id` is the stored id the API's paths take.
 */
import { batchProgress, type BatchForecast } from "../../core/batch-progress.ts";
import { isTerminal, type Batch, type Item } from "../../core/types.ts";
import { publicBatchId } from "../../dialects/public-batch-id.ts";

/** Longest result body sent to the page; the result files have the whole text. */
const MAX_BODY_CHARS = 4_000;

export interface BatchView {
  id: string;
  publicId: string;
  dialect: Batch["dialect"];
  kind: Batch["kind"];
  endpoint: string;
  model: string | null;
  status: Batch["status"];
  displayName: string | null;
  terminal: boolean;
  counts: Batch["counts"] & { running: number; pending: number; reused: number };
  usage: Batch["usage"];
  itemsPerSecond: number | null;
  /** Until every Item is expected to have finished (the scheduler's forecast, else the Batch's own rate). */
  etaMs: number | null;
  /** Whether the ETA falls inside the completion window; null while unknown or once the Batch ended. */
  meetsWindow: boolean | null;
  priority: number;
  /** Its part of its Model's capacity now (0..1); null when it has nothing queued. */
  share: number | null;
  /** Waiting for its Model's batch hours (off-peak window) until then; null when it may run now. */
  heldUntilMs: number | null;
  createdAtMs: number;
  inProgressAtMs: number | null;
  endedAtMs: number | null;
  /** When its requests and results were given up to retention (migration 020); null while kept. */
  archivedAtMs: number | null;
  expiresAtMs: number;
  files: { input: string | null; output: string | null; error: string | null };
}

export function batchView(batch: Batch, running: number, nowMs: number, forecast: BatchForecast | null = null): BatchView {
  const progress = batchProgress(batch, nowMs, forecast);
  const endedAtMs = batch.completedAtMs ?? batch.failedAtMs ?? batch.expiredAtMs ?? batch.cancelledAtMs ?? null;
  return {
    id: batch.id,
    publicId: publicBatchId(batch),
    dialect: batch.dialect,
    kind: batch.kind,
    endpoint: batch.endpoint,
    model: batch.model,
    status: batch.status,
    displayName: batch.displayName,
    terminal: isTerminal(batch.status),
    counts: { ...batch.counts, running: Math.min(running, progress.pending), pending: Math.max(0, progress.pending - running), reused: batch.reusedItems },
    usage: batch.usage,
    itemsPerSecond: progress.itemsPerSecond,
    etaMs: progress.etaMs,
    meetsWindow: progress.meetsDeadline,
    priority: batch.priority,
    share: progress.share,
    heldUntilMs: progress.heldUntilMs,
    createdAtMs: batch.createdAtMs,
    inProgressAtMs: batch.inProgressAtMs,
    endedAtMs,
    archivedAtMs: batch.archivedAtMs,
    expiresAtMs: batch.expiresAtMs,
    files: { input: batch.inputFileId, output: batch.outputFileId, error: batch.errorFileId },
  };
}

export interface ItemView {
  /** 1-based input line. */
  line: number;
  clientId: string | null;
  status: Item["status"];
  attempts: number;
  statusCode: number | null;
  /** spool's code for a request that got no answer, or `http_<status>` for an upstream's error answer. */
  errorCode: string | null;
  message: string | null;
  inputTokens: number;
  outputTokens: number;
  finishedAtMs: number | null;
  body: string | null;
  bodyTruncated: boolean;
}

export function itemView(item: Item): ItemView {
  const result = item.result;
  const failed = item.status !== "succeeded";
  const body = result?.body ?? null;
  return {
    line: item.index + 1,
    clientId: item.clientId,
    status: item.status,
    attempts: item.attempts,
    statusCode: result?.statusCode ?? null,
    errorCode: !failed || !result ? null : (result.errorCode ?? (result.statusCode !== null ? `http_${result.statusCode}` : null)),
    message: failed ? (result?.errorMessage ?? errorMessageOf(body)) : null,
    inputTokens: result?.usage.inputTokens ?? 0,
    outputTokens: result?.usage.outputTokens ?? 0,
    finishedAtMs: result?.finishedAtMs ?? null,
    body: body === null ? null : body.slice(0, MAX_BODY_CHARS),
    bodyTruncated: body !== null && body.length > MAX_BODY_CHARS,
  };
}

/** `error.message` of an upstream's JSON error body (every dialect's envelope puts it there). */
function errorMessageOf(body: string | null): string | null {
  if (body === null) return null;
  try {
    const parsed = JSON.parse(body) as { error?: { message?: unknown } | string } | null;
    const error = parsed?.error;
    if (typeof error === "string") return error;
    return typeof error?.message === "string" ? error.message : null;
  } catch {
    return null;
  }
}
