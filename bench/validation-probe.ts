/**
 * Child process for the validation benchmark: runs one validator over a file and prints
 * `{"ms","lines","maxRssBytes"}` so peak memory is measured for that work alone.
 *   node --import tsx bench/validation-probe.ts <baseline|spool> FILE
 */
import { createReadStream } from "node:fs";
import { createInterface } from "node:readline";
import { openAIBatchFormat } from "../src/dialects/openai/batch-format.ts";
import { syntheticBatch } from "../src/cli/validate.ts";
import { DEFAULTS } from "../src/config/config.ts";
import { ModelCatalog } from "../src/core/model-catalog.ts";
import { checkLines } from "../src/worker/validate-batch.ts";

const [mode, file] = process.argv.slice(2);
if (!file) throw new Error("usage: validation-probe <baseline|spool> FILE");
const start = process.hrtime.bigint();
let lines = 0;
if (mode === "baseline") {
  const reader = createInterface({ input: createReadStream(file, { highWaterMark: 1024 * 1024 }), crlfDelay: Infinity });
  for await (const line of reader) {
    JSON.parse(line);
    lines += 1;
  }
} else {
  const catalog = ModelCatalog.acceptingAnyModel();
  const report = await checkLines(createReadStream(file, { highWaterMark: 1024 * 1024 }), {
    batch: syntheticBatch(openAIBatchFormat, "/v1/chat/completions", "chat"),
    format: openAIBatchFormat,
    catalog,
    limits: { maxLineBytes: DEFAULTS.limits.maxLineBytes, maxBatchItems: 10_000_000 },
    nowMs: () => Date.now(),
  });
  if (report.errorCount > 0) throw new Error(`unexpected validation errors: ${JSON.stringify(report.errors.slice(0, 3))}`);
  lines = report.total;
}
const ms = Number(process.hrtime.bigint() - start) / 1e6;
console.log(JSON.stringify({ ms, lines, maxRssBytes: process.resourceUsage().maxRSS * 1024 }));
