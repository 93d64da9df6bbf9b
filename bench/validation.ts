/**
 * (a) Validation throughput of a large OpenAI batch file vs a bare readline + JSON.parse loop over the same
 * file, and spool's peak RSS while validating (each measured in its own child process).
 */
import { execFileSync } from "node:child_process";
import { ensureChatFile, mb, ratio, row, workPath } from "./lib.ts";

interface ProbeResult {
  ms: number;
  lines: number;
  maxRssBytes: number;
}

function probe(mode: "baseline" | "spool", file: string): ProbeResult {
  const out = execFileSync(process.execPath, ["--import", "tsx", "bench/validation-probe.ts", mode, file], { encoding: "utf8", maxBuffer: 1 << 20 });
  return JSON.parse(out.trim().split("\n").pop() ?? "{}") as ProbeResult;
}

export async function benchValidation(sizes: number[] = [200_000, 1_000_000]): Promise<void> {
  console.log("\n(a) Validation: spool's line checks vs readline + JSON.parse (same file, same run)");
  for (const lines of sizes) {
    const file = workPath(`chat-${lines}.jsonl`);
    const bytes = await ensureChatFile(file, lines);
    // Warm the page cache so neither side pays for the first read.
    probe("baseline", file);
    const baseline = probe("baseline", file);
    const spool = probe("spool", file);
    const baseRate = bytes / 1024 / 1024 / (baseline.ms / 1000);
    const spoolRate = bytes / 1024 / 1024 / (spool.ms / 1000);
    console.log(` ${lines.toLocaleString()} lines, ${mb(bytes)}`);
    row("baseline readline+JSON.parse", `${baseRate.toFixed(1)} MB/s`, `${Math.round(baseline.lines / (baseline.ms / 1000)).toLocaleString()} lines/s`);
    row("spool validation (parse + every check)", `${spoolRate.toFixed(1)} MB/s`, `${Math.round(spool.lines / (spool.ms / 1000)).toLocaleString()} lines/s`);
    row("throughput ratio spool/baseline", ratio(spoolRate, baseRate, { min: 0.7 }));
    row("peak RSS spool validation", mb(spool.maxRssBytes), spool.maxRssBytes <= 256 * 1024 * 1024 ? "(goal <= 256 MB: met)" : "(goal <= 256 MB: NOT met)");
    row("peak RSS baseline", mb(baseline.maxRssBytes));
  }
}
