/**
 * `spool run -i requests.jsonl -o results.jsonl`: processes a batch file locally, without an HTTP server,
 * through the same validation, Workers, Engines and result format as a submitted Batch (like vLLM's
 * `run-batch`).
 *
 * The input is stored as a File and run as one Batch in a work directory (default `<output>.spool/`,
 * SQLite + blobs). A marker file there holds the Batch id and the input's SHA-256: a run that was
 * interrupted (Ctrl-C, kill, crash) and started again with the same input continues that Batch, and
 * finished requests are not sent again. On success the output is written atomically and the default work
 * directory is removed (an explicit `--data-dir` is kept; run again, it rewrites the output at once).
 *
 * Downloaded (hf:, https) models are cached where `spool serve` with the same config keeps them
 * (`<dataDir>/models`), not in the work directory, so they survive its removal.
 *
 * `--model NAME` runs every request on NAME (the lines' own model names are replaced). Without a config
 * the built-in demo model is the only model, so every request runs on it (`spool-demo`, random weights).
 * With a config and no `--model`, OpenAI lines use their own `body.model`; Gemini lines name no model, so
 * `--model` is required for them.
 *
 * Exit codes: 0 the Batch completed (failed requests are counted and have error lines in the output);
 * 1 the input failed validation (every problem printed with its line number), or the Batch did not
 * complete; 2 usage errors (a missing input file, a bad config); 3 the work directory cannot be written;
 * 130/143 interrupted by SIGINT/SIGTERM (run again to continue).
 */
import { createReadStream, rmSync } from "node:fs";
import path from "node:path";
import { pino, type Logger } from "pino";
import { createApp, type App } from "../app.ts";
import type { BatchService } from "../batches/batch-service.ts";
import { DEMO_MODEL } from "../config/config.ts";
import { ConfigError } from "../config/load-config.ts";
import { newBatchId, newFileId } from "../core/ids.ts";
import { isTerminal, type Batch } from "../core/types.ts";
import type { Store } from "../store/store.ts";
import { prepareWritableDirectory } from "./data-dir.ts";
import { cliLogStream, formatDuration, formatRate, ProgressDisplay, type ProgressSnapshot } from "./progress.ts";
import { InputError, planRun, UsageError, type RunFlags, type RunPlan } from "./run/plan.ts";
import { replaceModels, writeOutput } from "./run/output.ts";
import { lockWorkDir, readMarker, sha256Of, writeMarker, type RunMarker } from "./run/work-dir.ts";
import { counted, formatLineError } from "./validate.ts";

export type { RunFlags };

const POLL_MS = 200;
/** A local run does not expire. */
const RUN_LIFETIME_MS = 10 * 365 * 24 * 3600 * 1000;

export async function runCommand(flags: RunFlags): Promise<void> {
  let code: number;
  try {
    code = await runBatchFile(flags);
  } catch (error) {
    if (error instanceof InputError) {
      console.log(error.message);
      code = 1;
    } else if (error instanceof UsageError || error instanceof ConfigError) {
      console.error(error.message);
      code = 2;
    } else {
      throw error;
    }
  }
  // Engines (llama.cpp, connection pools) may keep handles open after stop; the run is over.
  process.exit(code);
}

async function runBatchFile(flags: RunFlags): Promise<number> {
  const plan = await planRun(flags);
  prepareWritableDirectory(plan.workDir, {
    label: "work directory",
    fix: plan.keepWorkDir ? "choose another one with -d/--data-dir" : "write the output (-o) where files can be created, or choose a work directory with -d/--data-dir",
  });
  lockWorkDir(plan.workDir);
  const logSink = { progress: null as ProgressDisplay | null };
  const logger = createRunLogger(flags.logLevel ?? process.env.SPOOL_LOG_LEVEL, (line) => (logSink.progress ? logSink.progress.print(line) : process.stderr.write(`${line}\n`)));
  if (plan.config.demoModel && flags.model === undefined) {
    console.error(`No config: every request runs on the built-in demo model '${DEMO_MODEL.name}' (random weights, gibberish output). Use --config for real models.`);
  }
  const app = await createApp(plan.config, { api: false, workers: true, logger, modelCacheDir: plan.modelCacheDir, announceDemoModel: false });
  const progress = new ProgressDisplay({ stream: process.stderr, plainIntervalMs: plan.progressIntervalMs });
  logSink.progress = progress;
  let stopped = false;
  try {
    const batch = await openBatch(app, plan, logger);
    const startedMs = Date.now();
    const doneBefore = doneCount(batch);
    app.context.batches.wake();
    await app.start();
    const final = await waitForBatch(app.context.store, batch.id, progress, async (signal) => {
      stopped = true;
      console.error(`\n${signal}: stopping; requests still running get up to ${formatDuration(plan.config.worker.shutdownGraceMs)} (press Ctrl-C again to quit at once).`);
      await app.stop();
      console.error(`Stopped. Run the same command again to continue batch ${batch.id}.`);
      return signal === "SIGINT" ? 130 : 143;
    });
    progress.finish();
    if (typeof final === "number") return final;
    const code = await reportFinished(app.context.batches, plan, final, { startedMs, doneBefore });
    await app.stop();
    stopped = true;
    if (code === 0 && !plan.keepWorkDir) rmSync(plan.workDir, { recursive: true, force: true });
    return code;
  } finally {
    if (!stopped) await app.stop();
  }
}

/** The Batch to wait for: the interrupted one of an earlier run of the same input, or a new one. */
async function openBatch(app: App, plan: RunPlan, logger: Logger): Promise<Batch> {
  const { store } = app.context;
  const inputSha256 = await sha256Of(plan.input);
  const marker = readMarker(plan.workDir);
  const same = marker !== null && marker.inputSha256 === inputSha256 && marker.model === plan.model && marker.dialect === plan.dialect;
  const previous = marker === null ? null : await store.getBatch(marker.batchId);
  // Starting over would cancel the interrupted run's Batch and lose its finished requests: refuse instead.
  if (marker !== null && !same && previous !== null && !isTerminal(previous.status)) throw new UsageError(interruptedRunMessage({ ...plan, inputSha256 }, marker, previous));

  // The lock says no other process works here: Items still leased belong to a killed run. Return them now
  // instead of waiting for their Leases to expire (Leases end at most leaseMs after their last renewal).
  await store.reclaimExpiredItems(Date.now() + plan.config.worker.leaseMs + 1);

  if (same && previous && !["failed", "cancelled", "expired"].includes(previous.status)) {
    console.error(`Resuming batch ${previous.id}: ${doneCount(previous)} of ${previous.counts.total || "?"} requests already done.`);
    return previous;
  }
  const endpointProblem = plan.format.endpointProblem(plan.endpoint);
  if (endpointProblem) throw new InputError(`${plan.input}: ${endpointProblem} Nothing was run.`);
  await cancelUnfinishedBatches(app.context.batches, logger);
  // The marker is written before the Batch exists, so a run killed in between finds it by id, never
  // leaves an unmarked Batch behind that would run unseen next to the new one.
  const batchId = same && marker && previous === null ? marker.batchId : newBatchId();
  writeMarker(plan.workDir, { batchId, input: plan.input, inputSha256, dialect: plan.dialect, model: plan.model });
  const fileId = await storeInput(app, plan);
  return app.context.batches.create({
    id: batchId, dialect: plan.dialect, kind: plan.kind, endpoint: plan.endpoint,
    model: plan.format.modelPerBatch ? plan.model : null,
    input: { fileId }, displayName: path.basename(plan.input), lifetimeMs: RUN_LIFETIME_MS,
  });
}

/** What differs from the interrupted run in the work dir, and the ways on. */
function interruptedRunMessage(plan: RunPlan & { inputSha256: string }, marker: RunMarker, previous: Batch): string {
  const held = `batch ${previous.id}, ${doneCount(previous)} of ${previous.counts.total || "?"} requests done`;
  const startOver = `delete ${plan.workDir} (or choose another -o or -d) to start over`;
  if (path.resolve(marker.input) === plan.input && marker.inputSha256 !== plan.inputSha256) {
    return `spool run: ${plan.workDir} holds an interrupted run of an earlier version of ${marker.input} (${held}); ${startOver} with the file as it is now.`;
  }
  const model = marker.model !== plan.model && marker.model !== null ? ` -m ${marker.model}` : "";
  return `spool run: ${plan.workDir} holds an interrupted run of ${marker.input}${model ? ` on model ${marker.model}` : ""} (${held}); run with -i ${marker.input}${model} to continue it, or ${startOver}.`;
}

/** Stores the input as a File, with every request's model replaced when the run fixes one. */
async function storeInput(app: App, plan: RunPlan): Promise<string> {
  const { store, blobs, clock } = app.context;
  const fileId = newFileId();
  const source = createReadStream(plan.input, { highWaterMark: 1024 * 1024 });
  const model = plan.model;
  const content = model === null ? source : replaceModels(source, plan.format, model, plan.config.limits.maxLineBytes);
  const info = await blobs.put(fileId, content);
  await store.createFile({
    id: fileId, purpose: "batch", filename: path.basename(plan.input), displayName: null, mimeType: "application/jsonl",
    bytes: info.bytes, sha256: info.sha256, source: "uploaded", createdAtMs: clock.now(), expiresAtMs: null,
  });
  return fileId;
}

/**
 * Polls the Batch until it is terminal, showing progress. A first SIGINT/SIGTERM stops gracefully (the
 * loop notices it between two polls, so the Store is never closed under a read); a second exits at once.
 * Returns the Batch, or the exit code when interrupted.
 */
async function waitForBatch(store: Store, batchId: string, progress: ProgressDisplay, onSignal: (signal: NodeJS.Signals) => Promise<number>): Promise<Batch | number> {
  const state: { received: NodeJS.Signals | null; wake: (() => void) | null } = { received: null, wake: null };
  const handle = (signal: NodeJS.Signals): void => {
    if (state.received) process.exit(signal === "SIGINT" ? 130 : 143);
    state.received = signal;
    state.wake?.();
  };
  process.on("SIGINT", handle);
  process.on("SIGTERM", handle);
  try {
    for (;;) {
      if (state.received) {
        progress.finish();
        return await onSignal(state.received);
      }
      const batch = await store.getBatch(batchId);
      if (!batch) throw new Error(`Batch ${batchId} disappeared from the work directory.`);
      if (isTerminal(batch.status)) {
        if (batch.status !== "failed") progress.update(snapshotOf(batch));
        return batch;
      }
      progress.update(snapshotOf(batch));
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, POLL_MS);
        state.wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      state.wake = null;
    }
  } finally {
    process.off("SIGINT", handle);
    process.off("SIGTERM", handle);
  }
}

/** Writes the output (completed Batch) or prints the validation problems. Returns the exit code. */
async function reportFinished(batches: BatchService, plan: RunPlan, batch: Batch, session: { startedMs: number; doneBefore: number }): Promise<number> {
  if (batch.status === "failed") {
    const errors = batch.errors ?? [];
    for (const error of errors) console.log(formatLineError(error));
    const count = errors.filter((error) => error.code !== "too_many_errors").length;
    console.log(`${plan.input}: ${counted(count, "problem")}; nothing was run. Fix the file and run again (spool validate lists the same problems).`);
    return 1;
  }
  const lines = await writeOutput(batches, plan.format, plan.output, batch);
  const { counts } = batch;
  const seconds = (Date.now() - session.startedMs) / 1000;
  const doneNow = doneCount(batch) - session.doneBefore;
  for (const error of batch.errors ?? []) console.log(`skipped ${formatLineError(error)}`);
  const rate = seconds > 0 && doneNow > 0 ? ` (${formatRate(doneNow / seconds)} req/s)` : "";
  const resumed = session.doneBefore > 0 ? `, ${session.doneBefore} done by an earlier run` : "";
  const others = counts.cancelled + counts.expired > 0 ? `, ${counts.cancelled} cancelled, ${counts.expired} expired` : "";
  console.log(
    `Batch ${batch.id} ${batch.status}: ${counts.succeeded} succeeded, ${counts.failed} failed${others} of ${counted(counts.total, "request")} ` +
      `in ${formatDuration(seconds * 1000)}${rate}${resumed}.`,
  );
  console.log(`Wrote ${counted(lines, "result line")} to ${plan.output}${counts.failed > 0 ? ` (${counts.failed} of them errors)` : ""}.`);
  return batch.status === "completed" ? 0 : 1;
}

async function cancelUnfinishedBatches(batches: BatchService, logger: Logger): Promise<void> {
  let afterId: string | undefined;
  for (;;) {
    const page = await batches.list({ limit: 100, afterId });
    for (const batch of page.batches) {
      if (batch.status !== "validating" && batch.status !== "in_progress") continue;
      await batches.cancel(batch.id).catch((error: unknown) => logger.warn({ err: error, batchId: batch.id }, "could not cancel an earlier run's batch"));
    }
    if (!page.hasMore || page.batches.length === 0) return;
    afterId = page.batches[page.batches.length - 1]?.id;
  }
}

function snapshotOf(batch: Batch): ProgressSnapshot {
  const phase = batch.status === "validating" ? "validating" : batch.status === "finalizing" ? "finalizing" : "running";
  return { phase, done: doneCount(batch), total: batch.counts.total, failed: batch.counts.failed };
}

function doneCount(batch: Batch): number {
  const { succeeded, failed, cancelled, expired } = batch.counts;
  return succeeded + failed + cancelled + expired;
}

/** Logs for people: warnings and model downloads as short lines; `--log-level` gives the JSON log. */
function createRunLogger(level: string | undefined, print: (line: string) => void): Logger {
  if (level !== undefined && level !== "") return pino({ level, base: { pid: process.pid } }, pino.destination({ fd: 2, sync: true }));
  return pino({ level: "info", base: null }, cliLogStream(print));
}
