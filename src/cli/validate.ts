/**
 * `spool validate FILE`: the same checks a Batch gets on creation, run locally. Prints every problem with
 * its line number as it is found (streaming: memory stays flat on huge files); exit code 1 if any.
 */
import { DEFAULT_TENANT } from "../core/tenancy.ts";
import { createReadStream } from "node:fs";
import { BATCH_FORMATS, isDialect, MODEL_NAME_FORMS } from "../dialects/registry.ts";
import type { BatchFormat } from "../core/batch-format.ts";
import { loadConfig } from "../config/load-config.ts";
import { ModelCatalog } from "../core/model-catalog.ts";
import type { Batch, Dialect, LineError, RequestKind } from "../core/types.ts";
import { checkLines } from "../worker/validate-batch.ts";
import { DEFAULTS } from "../config/config.ts";
import { requireReadableFile } from "./operator-error.ts";
import { sniffBatchFile } from "./sniff-batch-file.ts";
import { replaceModels } from "./run/output.ts";
import { ZERO_USAGE } from "../core/types.ts";
import type { Price } from "../core/batch-cost.ts";
import { addRequest, emptyEstimate, estimateCost, type TokenEstimate } from "../core/token-estimate.ts";

export interface ValidateFlags {
  dialect?: string;
  endpoint?: string;
  config?: string;
  model?: string;
}

export async function validateCommand(file: string, flags: ValidateFlags): Promise<void> {
  requireReadableFile(file, "spool validate");
  const sniffed = await sniffBatchFile(file);
  if (flags.dialect !== undefined && !isDialect(flags.dialect)) usageError(`Unknown dialect '${flags.dialect}': use ${Object.keys(BATCH_FORMATS).join(" or ")}.`);
  const format = flags.dialect !== undefined ? BATCH_FORMATS[flags.dialect as Dialect] : sniffed.format;
  const dialect = format.dialect;
  const endpoint = flags.endpoint ?? sniffed.endpoint ?? "/v1/chat/completions";
  const catalog = flags.config ? new ModelCatalog(loadConfig({ config: flags.config }).models, { nameForms: MODEL_NAME_FORMS }) : ModelCatalog.acceptingAnyModel();
  // --model is checked like `spool run -m`: the model must be configured, and every request runs on it.
  const model = flags.model === undefined ? null : (catalog.get(flags.model)?.name ?? usageError(`spool validate: --model: ${catalog.unknownModelMessage(flags.model)}`));
  const batch = syntheticBatch(format, endpoint, sniffed.kind);
  // Lines of a model-per-batch dialect name no model (the batch does): check them against --model, or any
  // model when there is no config to check against.
  if (format.modelPerBatch) batch.model = model ?? (flags.config ? null : "any-model");
  if (format.modelPerBatch && batch.model === null) {
    usageError("A Gemini batch file's model comes from the batch, not the lines: pass --model NAME to check it against the config.");
  }
  let problems = 0;
  let warnings = 0;
  const estimates = new Map<string, TokenEstimate>();
  const source = createReadStream(file, { highWaterMark: 1024 * 1024 });
  const limits = { maxLineBytes: DEFAULTS.limits.maxLineBytes, maxBatchItems: DEFAULTS.limits.maxBatchItems };
  const report = await checkLines(model === null ? source : replaceModels(source, format, model, limits.maxLineBytes), {
    batch,
    format,
    catalog,
    limits,
    nowMs: () => Date.now(),
    onItem: (item) => {
      if (item.result !== undefined && item.result !== null) return;
      let estimate = estimates.get(item.model);
      if (estimate === undefined) estimates.set(item.model, (estimate = emptyEstimate()));
      addRequest(estimate, JSON.parse(item.request) as unknown, item.kind !== "embedding");
    },
    onError: (error: LineError) => {
      problems += 1;
      console.log(formatLineError(error));
    },
    onWarning: (warning: LineError) => {
      warnings += 1;
      console.log(`warning: ${formatLineError(warning)}`);
    },
  });
  const warned = warnings > 0 ? `, ${counted(warnings, "warning")}` : "";
  const unchecked = flags.config ? "" : " Models were not checked: pass --config to check them against a config.";
  if (problems === 0) {
    console.log(`${file}: ${counted(report.lines, "request")}, no problems${warned} (${dialect}, ${endpoint}).${unchecked}`);
    for (const [name, estimate] of estimates) console.log(formatEstimate(name, estimate, catalog.get(name)?.price));
    return;
  }
  console.log(`${file}: ${counted(problems, "problem")}${warned} in ${counted(report.lines, "request")}.${unchecked}`);
  process.exitCode = 1;
}

function usageError(message: string): never {
  console.error(message);
  process.exit(2);
}

/** One line per Model: estimated tokens (src/core/token-estimate.ts) and, with a price, cost. */
export function formatEstimate(model: string, estimate: TokenEstimate, price: Price | undefined): string {
  const output = estimate.uncappedRequests === estimate.requests && estimate.outputTokensAtMost === 0 ? "output unknown" : `<= ${estimate.outputTokensAtMost} output tokens${estimate.uncappedRequests > 0 ? ` (+ ${counted(estimate.uncappedRequests, "request")} without max_tokens)` : ""}`;
  const base = `estimate ${model}: ${counted(estimate.requests, "request")}, ~${estimate.inputTokens} input tokens, ${output}`;
  if (price === undefined) return base;
  const cost = estimateCost(estimate, price);
  return `${base}; cost <= $${cost.batch.toFixed(4)} at batch price ($${cost.sync.toFixed(4)} sync)`;
}

/** "1 request", "6 problems". */
export function counted(n: number, noun: string): string {
  return `${n} ${noun}${n === 1 ? "" : "s"}`;
}

export function formatLineError(error: LineError): string {
  const where = error.line === null ? "file" : `line ${error.line}`;
  return `${where}: ${error.code}${error.param ? ` (${error.param})` : ""}: ${error.message}`;
}

export function syntheticBatch(format: BatchFormat, endpoint: string, kind: RequestKind): Batch {
  return {
    id: "batch_local", tenant: DEFAULT_TENANT, seq: 0, dialect: format.dialect, kind, endpoint, model: null, status: "validating",
    inputFileId: null, outputFileId: null, errorFileId: null,
    invalidLinePolicy: format.invalidLinePolicy, errors: null,
    counts: { total: 0, succeeded: 0, failed: 0, cancelled: 0, expired: 0 }, reusedItems: 0, usage: ZERO_USAGE, charges: { batchNanoUsd: 0, listNanoUsd: 0 },
    displayName: null, metadata: null, options: {}, priority: 0,
    createdAtMs: 0, updatedAtMs: 0, expiresAtMs: Number.MAX_SAFE_INTEGER,
    inProgressAtMs: null, finalizingAtMs: null, completedAtMs: null, failedAtMs: null, expiredAtMs: null,
    cancellingAtMs: null, cancelledAtMs: null, deletedAtMs: null, archivedAtMs: null,
  };
}
