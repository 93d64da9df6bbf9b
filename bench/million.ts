/**
 * `million`: cost that stays flat as a Batch grows (issue #11). One 1M-Item Batch vs one 100k-Item Batch,
 * each in a fresh spool process (SQLite, instant upstream, concurrency 64): Items/s create -> completed
 * (goal: the 1M run at >= 0.9x the 100k one) and the 1M process's peak resident memory (VmHWM, goal
 * <= 300 MB), with RSS sampled through the run (upload, then each Batch status) so growth shows where it happens.
 *
 * LONG: the 1M run is ten e2e runs in a row (about 3-6 minutes on a quiet 2-core machine, more when it is
 * shared), and the first run writes the 1M-line input (about 560 MB) into bench/.work once. Data dirs are
 * deleted afterwards (a 1M run leaves about 3 GB).
 */
import { mkdtempSync, rmSync } from "node:fs";
import path from "node:path";
import type OpenAI from "openai";
import { ensureChatFile, loadNote, mb, ratio, row, verdict, workPath, WORK_DIR } from "./lib.ts";
import { memoryOf, startSpool, startUpstream } from "./processes.ts";
import { measureSpoolBatch, writeBenchConfig } from "./end-to-end.ts";

const CONCURRENCY = 64;
const RSS_GOAL_MB = 300;
const SAMPLE_MS = 200;

interface SizedRun {
  rate: number;
  seconds: number;
  cpuUsPerItem: number | null;
  /** VmHWM at the end of the run: the most the process was ever resident. */
  peakRss: number | null;
  /** VmRSS just after start, before any upload. */
  idleRss: number | null;
  /** Seconds spent in each Batch status, as the 100 ms polls saw it. */
  phases: Map<string, number>;
  /** The highest VmRSS sampled (every SAMPLE_MS) in each phase: uploading, then each Batch status. */
  rssByPhase: Map<string, number>;
}

async function runSized(upstreamUrl: string, count: number): Promise<SizedRun> {
  const file = workPath(`chat-${count}.jsonl`);
  await ensureChatFile(file, count);
  const dir = mkdtempSync(path.join(WORK_DIR, "million-"));
  const model = { name: "gpt-bench", engine: "openai", baseUrl: upstreamUrl, concurrency: CONCURRENCY };
  // The 1M file is larger than the default 512 MiB upload limit.
  const spool = await startSpool("serve", writeBenchConfig(dir, { models: [model], limits: { maxUploadBytes: 1024 ** 3 } }));
  const idleRss = memoryOf(spool.child, "VmRSS");
  const phases = new Map<string, number>();
  const rssByPhase = new Map<string, number>();
  let last = { status: "uploading", at: performance.now() };
  const sampler = setInterval(() => {
    const rss = memoryOf(spool.child, "VmRSS");
    if (rss !== null && rss > (rssByPhase.get(last.status) ?? 0)) rssByPhase.set(last.status, rss);
  }, SAMPLE_MS);
  const onPoll = (batch: OpenAI.Batch): void => {
    const now = performance.now();
    if (batch.status === last.status) return;
    if (last.status !== "uploading") phases.set(last.status, (phases.get(last.status) ?? 0) + (now - last.at) / 1000);
    last = { status: batch.status, at: now };
  };
  try {
    const result = await measureSpoolBatch(spool, file, count, onPoll);
    return { ...result, peakRss: memoryOf(spool.child, "VmHWM"), idleRss, phases, rssByPhase };
  } finally {
    clearInterval(sampler);
    await spool.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

function report(label: string, run: SizedRun): void {
  const cpu = run.cpuUsPerItem === null ? "" : `; ${run.cpuUsPerItem.toFixed(0)} µs spool CPU/Item`;
  row(`${label}: create -> completed`, `${Math.round(run.rate).toLocaleString()} items/s`, `${run.seconds.toFixed(1)} s${cpu}`);
  const phases = [...run.phases].map(([status, seconds]) => `${status} ${seconds.toFixed(1)} s`).join(", ");
  row(`${label}: time per status`, "", phases);
  const rss = [...run.rssByPhase].map(([phase, bytes]) => `${phase} ${mb(bytes)}`).join(", ");
  row(`${label}: peak RSS (VmHWM)`, run.peakRss === null ? "n/a" : mb(run.peakRss), `idle ${run.idleRss === null ? "n/a" : mb(run.idleRss)}; highest sampled: ${rss}`);
}

export async function benchMillion(): Promise<void> {
  console.log(`\nFlat cost: one 1,000,000-Item Batch vs one 100,000-Item Batch (SQLite, concurrency ${CONCURRENCY}, instant upstream; ${loadNote()})`);
  const upstream = await startUpstream(0);
  try {
    const base = await runSized(upstream.url, 100_000);
    report("100k", base);
    const million = await runSized(upstream.url, 1_000_000);
    report("1M", million);
    row("Items/s ratio 1M / 100k", ratio(million.rate, base.rate, { min: 0.9 }));
    if (million.cpuUsPerItem !== null && base.cpuUsPerItem !== null) row("spool CPU per Item ratio 1M / 100k", ratio(million.cpuUsPerItem, base.cpuUsPerItem));
    if (million.peakRss !== null) row("1M peak RSS", mb(million.peakRss), verdict(million.peakRss / 1024 / 1024, { max: RSS_GOAL_MB }, " MB"));
    console.log(`  (${loadNote()} at the end)`);
  } finally {
    await upstream.stop();
  }
}
