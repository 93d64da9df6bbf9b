/** `spool run`: checking the flags and the input, and building the run's Config (every problem is a UsageError). */
import path from "node:path";
import { dataPaths } from "../../app.ts";
import { DEMO_MODEL, type Config } from "../../config/config.ts";
import { loadConfig } from "../../config/load-config.ts";
import type { BatchFormat } from "../../core/batch-format.ts";
import { ModelCatalog } from "../../core/model-catalog.ts";
import type { Batch, Dialect } from "../../core/types.ts";
import { MODEL_NAME_FORMS } from "../../dialects/registry.ts";
import { requireReadableFile } from "../operator-error.ts";
import { sniffBatchFile } from "../sniff-batch-file.ts";

export interface RunFlags {
  input?: string;
  output?: string;
  model?: string;
  config?: string;
  dataDir?: string;
  logLevel?: string;
  /** Seconds between plain progress lines when stderr is not a terminal. */
  progressInterval?: string;
}

/** A mistake in the command line or its environment: exit code 2. */
export class UsageError extends Error {}

/** The input file cannot run as a Batch (found before validation): exit code 1, like a validation failure. */
export class InputError extends Error {}

/** Shorter than a server's: only batch-level Leases (validation, finalization) of a killed run wait this. */
const RUN_LEASE_MS = 10_000;

export interface RunPlan {
  input: string;
  output: string;
  workDir: string;
  keepWorkDir: boolean;
  config: Config;
  modelCacheDir: string;
  dialect: Dialect;
  format: BatchFormat;
  endpoint: string;
  kind: Batch["kind"];
  /** Every request runs on this Model; null: the lines' own. */
  model: string | null;
  progressIntervalMs: number | undefined;
}

/** Checks the flags and builds the run's Config; every problem here is a UsageError (exit 2). */
export async function planRun(flags: RunFlags): Promise<RunPlan> {
  if (!flags.input) throw new UsageError("spool run: -i/--input <file> is required.");
  if (!flags.output) throw new UsageError("spool run: -o/--output <file> is required.");
  const input = path.resolve(flags.input);
  const output = path.resolve(flags.output);
  requireReadableFile(input, "spool run");
  if (input === output) throw new UsageError("spool run: the output file must not be the input file.");
  const workDir = path.resolve(flags.dataDir ?? `${output}.spool`);

  // Downloaded models go where `spool serve` with the same config keeps them, not into the throwaway work dir.
  const home = loadConfig({ config: flags.config });
  const loaded = loadConfig({ config: flags.config, dataDir: workDir });
  const config: Config = {
    ...loaded,
    databaseUrl: null, // a local run always uses SQLite in its work dir
    databaseListenUrl: null,
    worker: { ...loaded.worker, leaseMs: Math.min(loaded.worker.leaseMs, RUN_LEASE_MS), pollMs: Math.min(loaded.worker.pollMs, 250) },
  };

  const sniffed = await sniffBatchFile(input);
  const format = sniffed.format;
  const catalog = new ModelCatalog(config.models, { nameForms: MODEL_NAME_FORMS });
  let model: string | null = config.demoModel ? DEMO_MODEL.name : null;
  if (flags.model !== undefined) {
    const found = catalog.get(flags.model);
    if (!found) throw new UsageError(`spool run: --model: ${catalog.unknownModelMessage(flags.model)}`);
    model = found.name;
  }
  if (format.modelPerBatch && model === null) {
    throw new UsageError(`spool run: ${input} is a ${format.dialect} batch file, whose lines name no model: pass --model NAME (configured: ${catalog.names().join(", ")}).`);
  }
  const endpoint = sniffed.endpoint ?? "/v1/chat/completions";
  return {
    input, output, workDir, keepWorkDir: flags.dataDir !== undefined, config, modelCacheDir: dataPaths(home.dataDir).models,
    dialect: format.dialect, format, endpoint, kind: sniffed.kind, model, progressIntervalMs: progressIntervalMs(flags.progressInterval),
  };
}

function progressIntervalMs(value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const seconds = Number(value);
  if (!Number.isFinite(seconds) || seconds <= 0) throw new UsageError(`spool run: --progress-interval must be a positive number of seconds, got '${value}'.`);
  return seconds * 1000;
}
