/**
 * Scale-out: end-to-end throughput with 1 vs 2 worker processes on PostgreSQL against an upstream with
 * realistic latency (50 ms per request), and the same batch on SQLite vs PostgreSQL with one process.
 *
 * A Model's `concurrency` is the upstream's budget for the whole deployment, shared by every process
 * through the capacity ledger (decision 0020); `processConcurrency` is what one process may run of it
 * (decision 0031). Here the budget is 64 and each process may run 32: the deployment a second process is
 * added to because one process is sized for half the budget, so it should about double throughput (the
 * issue 11 goal, >= 1.8x) while the two together stay within the 64. Validation and finalization of the
 * one Batch are each done by one process: the ratio is printed create -> completed and while running.
 */
import { mkdtempSync } from "node:fs";
import path from "node:path";
import { ensureChatFile, ratio, row, workPath, WORK_DIR } from "./lib.ts";
import { startSpool, startUpstream, type Peer } from "./processes.ts";
import { runSpoolBatch, writeBenchConfig } from "./end-to-end.ts";
import { freshSchemaUrl } from "./database.ts";

const LATENCY_MS = 50;
const CONCURRENCY = 64;
const PROCESS_CONCURRENCY = 32;

interface Rates {
  /** Items/s from create to completed (output written). */
  whole: number;
  /** Items/s while the Items ran: from the first poll seeing in_progress to the first seeing it end. */
  running: number;
}

/**
 * Validation (one process reads a Batch's file) and finalization (one writes its output) do not spread
 * over processes; the running does. Both rates are printed, and the goal is judged on each.
 */
function runningRate(count: number): { onPoll: (batch: { status: string }) => void; rate: () => number } {
  let startedAt: number | null = null;
  let endedAt: number | null = null;
  return {
    onPoll: (batch) => {
      if (batch.status === "in_progress") startedAt ??= performance.now();
      else if (startedAt !== null && ["finalizing", "completed"].includes(batch.status)) endedAt ??= performance.now();
    },
    rate: () => (startedAt === null || endedAt === null ? Number.NaN : count / ((endedAt - startedAt) / 1000)),
  };
}

async function runWith(params: { upstreamUrl: string; file: string; count: number; databaseUrl: string | null; workerProcesses: number }): Promise<Rates> {
  const peers: Peer[] = [];
  try {
    const dir = mkdtempSync(path.join(WORK_DIR, "scale-"));
    const model = { name: "gpt-bench", engine: "openai", baseUrl: params.upstreamUrl, concurrency: CONCURRENCY, processConcurrency: PROCESS_CONCURRENCY, adaptive: false };
    const base = { models: [model], worker: { sweepMs: 200, pollMs: 100 }, ...(params.databaseUrl ? { databaseUrl: params.databaseUrl } : {}) };
    // The serve process runs one set of workers; extra processes are `spool worker`.
    const api = await startSpool("serve", writeBenchConfig(dir, base));
    peers.push(api);
    for (let i = 1; i < params.workerProcesses; i += 1) {
      const workerDir = mkdtempSync(path.join(WORK_DIR, "scale-worker-"));
      peers.push(await startSpool("worker", writeBenchConfig(workerDir, base)));
    }
    const running = runningRate(params.count);
    const { rate } = await runSpoolBatch(api.url, params.file, params.count, running.onPoll);
    return { whole: rate, running: running.rate() };
  } finally {
    await Promise.all(peers.map((peer) => peer.stop()));
  }
}

export async function benchScaleOut(count = 20_000): Promise<void> {
  console.log(`\n(c) Scale-out: ${count.toLocaleString()} requests, upstream latency ${LATENCY_MS} ms, concurrency ${CONCURRENCY} for the deployment, ${PROCESS_CONCURRENCY} per process`);
  const file = workPath(`chat-${count}.jsonl`);
  await ensureChatFile(file, count);
  const upstream = await startUpstream(LATENCY_MS);
  try {
    const ceiling = (PROCESS_CONCURRENCY * 1000) / LATENCY_MS;
    const one = await runWith({ upstreamUrl: upstream.url, file, count, databaseUrl: await freshSchemaUrl("one"), workerProcesses: 1 });
    const two = await runWith({ upstreamUrl: upstream.url, file, count, databaseUrl: await freshSchemaUrl("two"), workerProcesses: 2 });
    const figures = (rates: Rates): string => `${Math.round(rates.whole).toLocaleString()} req/s`;
    row("PostgreSQL, 1 worker process", figures(one), `while running ${Math.round(one.running)} req/s (latency-bound ceiling of one process: ${Math.round(ceiling)} req/s)`);
    row("PostgreSQL, 2 worker processes", figures(two), `while running ${Math.round(two.running)} req/s (of the deployment's budget: ${Math.round((CONCURRENCY * 1000) / LATENCY_MS)} req/s)`);
    row("ratio 2 processes / 1 process, create -> completed", ratio(two.whole, one.whole, { min: 1.8 }), "issue 11 goal");
    row("ratio 2 processes / 1 process, while running", ratio(two.running, one.running, { min: 1.8 }), "issue 11 goal");
    const sqlite = await runWith({ upstreamUrl: upstream.url, file, count, databaseUrl: null, workerProcesses: 1 });
    row("SQLite, 1 process", figures(sqlite), `while running ${Math.round(sqlite.running)} req/s`);
    row("ratio PostgreSQL / SQLite (1 process)", ratio(one.whole, sqlite.whole));
  } finally {
    await upstream.stop();
  }
}
