/**
 * `spool watch BATCH_ID [--url URL]`: a live progress bar (done/total, rate, ETA, failures) for a Batch of
 * either dialect on a running server, until it ends; then one line with the outcome, and the exit code
 * says it: 0 completed with every request succeeded; 1 completed with failed requests, or failed, expired
 * or cancelled; 2 no such batch, a bad URL or a missing API key; 3 no server at the URL.
 *
 * A server that stops answering for a while (a restart) is waited for, up to OUTAGE_MS.
 */
import type { BatchView } from "../api/dashboard/views.ts";
import { ExitCode, OperatorError } from "./operator-error.ts";
import { formatDuration, ProgressDisplay, type ProgressSnapshot } from "./progress.ts";
import { serverClient, type ServerFlags } from "./server-client.ts";

export interface WatchFlags extends ServerFlags {
  interval?: string;
}

const OUTAGE_MS = 60_000;

export async function watchCommand(batchId: string, flags: WatchFlags): Promise<void> {
  const intervalMs = Math.max(100, Number(flags.interval ?? 1) * 1000);
  if (!Number.isFinite(intervalMs)) throw new OperatorError(`--interval ${flags.interval} is not a number of seconds.`, ExitCode.usage);
  const client = serverClient(flags);
  const path = `/batches/${encodeURIComponent(batchId)}`;
  const progress = new ProgressDisplay({ stream: process.stderr });
  let failingSince: number | null = null;
  let shown = false;
  for (;;) {
    let batch: BatchView;
    try {
      batch = (await client.get<{ batch: BatchView }>(path)).batch;
      failingSince = null;
    } catch (error) {
      // A missing key, a bad URL or an unknown batch will not fix itself; a server restarting will.
      if (error instanceof OperatorError && error.exitCode !== ExitCode.environment) throw error;
      failingSince ??= Date.now();
      if (!shown || Date.now() - failingSince > OUTAGE_MS) throw error;
      progress.print(`spool: ${error instanceof Error ? error.message : String(error)}; trying again`);
      await sleep(intervalMs);
      continue;
    }
    if (!shown) process.stderr.write(`${batch.publicId} (${batch.dialect}, ${batch.model ?? "model per request"}) on ${client.url}\n`);
    shown = true;
    progress.update(snapshot(batch));
    if (batch.terminal) {
      progress.finish();
      console.log(outcomeLine(batch));
      process.exitCode = batch.status === "completed" && batch.counts.failed === 0 ? ExitCode.ok : ExitCode.failure;
      return;
    }
    await sleep(intervalMs);
  }
}

function snapshot(batch: BatchView): ProgressSnapshot {
  const { counts } = batch;
  const phase = batch.status === "validating" ? "validating" : batch.status === "finalizing" ? "finalizing" : "running";
  return { phase, done: counts.succeeded + counts.failed + counts.cancelled + counts.expired, total: counts.total, failed: counts.failed };
}

export function outcomeLine(batch: BatchView): string {
  const { counts } = batch;
  const took = batch.endedAtMs !== null ? ` in ${formatDuration(batch.endedAtMs - batch.createdAtMs)}` : "";
  const parts = [`${counts.succeeded} succeeded`, `${counts.failed} failed`];
  if (counts.cancelled > 0) parts.push(`${counts.cancelled} cancelled`);
  if (counts.expired > 0) parts.push(`${counts.expired} expired`);
  const files = [batch.files.output ? `output ${batch.files.output}` : null, batch.files.error ? `errors ${batch.files.error}` : null].filter(Boolean).join(", ");
  return `${batch.publicId} ${batch.status}${took}: ${parts.join(", ")} of ${counts.total}${files ? ` (${files})` : ""}`;
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
