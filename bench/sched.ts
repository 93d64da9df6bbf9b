/**
 * (sched) Scheduling across Batches (issue 12), through a spool process and a steady upstream process:
 *
 * 1. ETA accuracy: one Batch on an idle Model with a steady upstream (50 ms per request, 8 at a time: the
 *    upstream sets the pace, not spool's share of a busy machine), on a server warmed up by a 1,000-request
 *    Batch; from 10% progress on, every forecast finish (the dashboard API's ETA, in ms) against the moment
 *    the last request finished. Goal: within ±15% of the Batch's actual run time.
 * 2. Fair share: a 10-request Batch created while a 200k-request Batch runs on the same Model, timed from
 *    create to completed, against the same Batch on the idle Model (goal: at most 2x). Each side is timed
 *    five times, median kept. Then the same with a sync request every 33 ms beside the large Batch (no
 *    goal: there Batch requests keep to a share of the slots, decision 0025, and the Worker claims ahead
 *    only for that share, decision 0051). The large Batch is cancelled afterwards: only its start matters
 *    here.
 *
 * Sizes: SPOOL_BENCH_SCHED_LARGE (default 200,000) and SPOOL_BENCH_SCHED_ETA (default 4,000) requests.
 */
import { createReadStream, mkdtempSync } from "node:fs";
import path from "node:path";
import OpenAI from "openai";
import { Pool } from "undici";
import { writeBenchConfig } from "./end-to-end.ts";
import { ensureChatFile, ratio, row, workPath, WORK_DIR } from "./lib.ts";
import { startSpool, startUpstream, type Peer } from "./processes.ts";

const LARGE = Number(process.env.SPOOL_BENCH_SCHED_LARGE ?? 200_000);
const ETA_ITEMS = Number(process.env.SPOOL_BENCH_SCHED_ETA ?? 4_000);
const WARM_ITEMS = 1_000;
const SMALL = 10;
const CONCURRENCY = 64;
const LATENCY_MS = 20;
/** The ETA run's upstream bounds the rate (8 at a time, 50 ms each: 160/s), not spool's share of a busy machine. */
const ETA_CONCURRENCY = 8;
const ETA_LATENCY_MS = 50;
const ROUNDS = 5;
/** The sync requests beside the large Batch in the third fair-share case: about 30 a second, as in `sync`. */
const SYNC_EVERY_MS = 33;

interface DashboardBatch {
  status: string;
  counts: { total: number; succeeded: number; failed: number; pending: number; running: number };
  etaMs: number | null;
}

export async function benchSched(): Promise<void> {
  console.log(`\n(sched) Scheduling: ETA accuracy (upstream ${ETA_LATENCY_MS} ms per request) and fair share across batches (${LATENCY_MS} ms)`);
  const steady = await startUpstream(ETA_LATENCY_MS);
  try {
    await etaAccuracy(steady);
  } finally {
    await steady.stop();
  }
  const upstream = await startUpstream(LATENCY_MS);
  try {
    await fairShare(upstream);
  } finally {
    await upstream.stop();
  }
}

async function fairShare(upstream: Peer): Promise<void> {
  const largeFile = workPath(`chat-${LARGE}.jsonl`);
  const smallFile = workPath(`chat-${SMALL}.jsonl`);
  await ensureChatFile(largeFile, LARGE);
  await ensureChatFile(smallFile, SMALL);
  const spool = await startBenchSpool(upstream, CONCURRENCY);
  try {
    const client = clientOf(spool);
    const small = await client.files.create({ file: createReadStream(smallFile), purpose: "batch" });
    const idle: number[] = [];
    for (let round = 0; round < ROUNDS; round += 1) idle.push(await timeBatch(client, small.id));
    const large = await client.files.create({ file: createReadStream(largeFile), purpose: "batch" });
    const started = performance.now();
    const big = await client.batches.create({ input_file_id: large.id, endpoint: "/v1/chat/completions", completion_window: "24h" });
    await until(async () => ((await client.batches.retrieve(big.id)).request_counts?.completed ?? 0) >= 2 * CONCURRENCY * 4);
    const validatedIn = (performance.now() - started) / 1000;
    const behind: number[] = [];
    for (let round = 0; round < ROUNDS; round += 1) behind.push(await timeBatch(client, small.id));
    // The same, while sync requests come beside the large Batch (its requests then keep to a share of the
    // slots, decision 0025, and the Worker claims ahead only for that share, decision 0051).
    const beside: number[] = [];
    const sync = steadySync(spool);
    try {
      // Half a second for the lane to settle into its share (what a Batch started under steady sync traffic meets).
      await new Promise((resolve) => setTimeout(resolve, 500));
      for (let round = 0; round < ROUNDS; round += 1) beside.push(await timeBatch(client, small.id));
    } finally {
      await sync.stop();
    }
    const running = await client.batches.retrieve(big.id);
    // Cancelled unless it already ended (a small SPOOL_BENCH_SCHED_LARGE): then the rounds were not all behind it.
    if (running.status === "in_progress") await client.batches.cancel(big.id);
    else console.log(`  (the large batch ended before the last round: make SPOOL_BENCH_SCHED_LARGE larger)`);
    const idleMs = median(idle);
    const behindMs = median(behind);
    row(`${SMALL}-request batch on the idle model (median of ${ROUNDS})`, `${idleMs.toFixed(0)} ms`, idle.map((ms) => ms.toFixed(0)).join(" / "));
    row(`... created while a ${LARGE.toLocaleString()}-request batch runs`, `${behindMs.toFixed(0)} ms`, behind.map((ms) => ms.toFixed(0)).join(" / "));
    row("behind / idle", ratio(behindMs, idleMs, { max: 2 }), `large batch: ${running.request_counts?.completed.toLocaleString()} of ${LARGE.toLocaleString()} done meanwhile (started ${validatedIn.toFixed(1)} s after create)`);
    row(`... and with a sync request every ${SYNC_EVERY_MS} ms beside it`, `${median(beside).toFixed(0)} ms`, `${beside.map((ms) => ms.toFixed(0)).join(" / ")}; ${ratio(median(beside), idleMs)}idle; ${sync.count()} sync requests, median ${sync.medianMs().toFixed(1)} ms`);
  } finally {
    await spool.stop();
  }
}

async function etaAccuracy(upstream: Peer): Promise<void> {
  const file = workPath(`chat-${ETA_ITEMS}.jsonl`);
  await ensureChatFile(file, ETA_ITEMS);
  const warmFile = workPath(`chat-${WARM_ITEMS}.jsonl`);
  await ensureChatFile(warmFile, WARM_ITEMS);
  const spool = await startBenchSpool(upstream, ETA_CONCURRENCY);
  try {
    const client = clientOf(spool);
    // A server that has been running: the first seconds of a fresh process run at half speed (JIT), which
    // no forecast made in them can know. The warm-up batch also leaves a measured capacity behind.
    await timeBatch(client, (await client.files.create({ file: createReadStream(warmFile), purpose: "batch" })).id, 200);
    const uploaded = await client.files.create({ file: createReadStream(file), purpose: "batch" });
    const created = await client.batches.create({ input_file_id: uploaded.id, endpoint: "/v1/chat/completions", completion_window: "24h" });
    const createdAt = performance.now();
    const forecasts: { at: number; done: number; finishAt: number }[] = [];
    let startedAt: number | null = null;
    let lastDoneAt = 0;
    for (;;) {
      const view = await dashboardBatch(spool, created.id);
      const now = performance.now();
      const done = view.counts.succeeded + view.counts.failed;
      if (startedAt === null && view.status === "in_progress") startedAt = now;
      if (done >= view.counts.total && view.counts.total > 0) {
        lastDoneAt = now;
        break;
      }
      if (view.etaMs !== null && done >= 0.1 * ETA_ITEMS) forecasts.push({ at: now, done, finishAt: now + view.etaMs });
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    const runMs = lastDoneAt - (startedAt ?? createdAt);
    const errors = forecasts.map((forecast) => ({ done: forecast.done / ETA_ITEMS, error: (forecast.finishAt - lastDoneAt) / runMs }));
    const worst = errors.reduce((most, each) => (Math.abs(each.error) > Math.abs(most) ? each.error : most), 0);
    const at = (share: number): string => pct(errors.find((each) => each.done >= share)?.error ?? NaN);
    // The forecast assumes the rate it measured holds: on a shared machine it may not, so say how steady it was.
    const first = forecasts[0];
    const earlyRate = first && startedAt !== null ? first.done / ((first.at - startedAt) / 1000) : NaN;
    const lateRate = first ? (ETA_ITEMS - first.done) / ((lastDoneAt - first.at) / 1000) : NaN;
    row(`ETA: ${ETA_ITEMS.toLocaleString()} requests, ${ETA_CONCURRENCY} at a time`, `${(runMs / 1000).toFixed(1)} s`, `${forecasts.length} forecasts from 10% progress on`);
    row("forecast error at 10% / 25% / 50% / 75% progress", `${at(0.1)} / ${at(0.25)} / ${at(0.5)} / ${at(0.75)}`, "of the run time");
    row("worst forecast from 10% on", pct(worst), Math.abs(worst) <= 0.15 ? "(goal within ±15%: met)" : "(goal within ±15%: NOT met)");
    row("actual rate before 10% / after", `${earlyRate.toFixed(0)} / ${lateRate.toFixed(0)} req/s`, "(a steady upstream; the machine's load is not)");
  } finally {
    await spool.stop();
  }
}

async function startBenchSpool(upstream: Peer, concurrency: number): Promise<Peer> {
  const dir = mkdtempSync(path.join(WORK_DIR, "sched-"));
  return startSpool("serve", writeBenchConfig(dir, { models: [{ name: "gpt-bench", engine: "openai", baseUrl: upstream.url, concurrency, maxRetries: 0 }], worker: { pollMs: 100 } }));
}

function clientOf(spool: Peer): OpenAI {
  return new OpenAI({ apiKey: "bench", baseURL: `${spool.url}/v1`, maxRetries: 0, timeout: 600_000 });
}

/** Create -> completed of one Batch over `fileId`, in ms (polled every `everyMs`). */
async function timeBatch(client: OpenAI, fileId: string, everyMs = 10): Promise<number> {
  const start = performance.now();
  const batch = await client.batches.create({ input_file_id: fileId, endpoint: "/v1/chat/completions", completion_window: "24h" });
  await until(async () => (await client.batches.retrieve(batch.id)).status === "completed", everyMs);
  return performance.now() - start;
}

/** Sync chat requests one at a time, SYNC_EVERY_MS apart, until stopped. */
function steadySync(spool: Peer): { stop(): Promise<void>; count(): number; medianMs(): number } {
  const pool = new Pool(new URL(spool.url).origin, { connections: 1 });
  const latencies: number[] = [];
  let running = true;
  const loop = (async () => {
    for (let i = 0; running; i += 1) {
      const sent = performance.now();
      const response = await pool.request({ method: "POST", path: "/v1/chat/completions", headers: { "content-type": "application/json" }, body: JSON.stringify({ model: "gpt-bench", messages: [{ role: "user", content: `Sync request ${i}` }] }) });
      await response.body.arrayBuffer();
      if (response.statusCode !== 200) throw new Error(`a sync request beside the batches answered ${response.statusCode}`);
      latencies.push(performance.now() - sent);
      await new Promise((resolve) => setTimeout(resolve, SYNC_EVERY_MS));
    }
  })();
  // A failed request ends the loop; stop() rethrows it (awaiting the loop), instead of an unhandled rejection before.
  loop.catch(() => undefined);
  return {
    stop: async () => {
      running = false;
      await loop;
      await pool.close();
    },
    count: () => latencies.length,
    medianMs: () => median(latencies),
  };
}

async function dashboardBatch(spool: Peer, id: string): Promise<DashboardBatch> {
  const response = await fetch(`${spool.url}/dashboard/api/batches/${encodeURIComponent(id)}`);
  return ((await response.json()) as { batch: DashboardBatch }).batch;
}

async function until(probe: () => Promise<boolean>, everyMs = 100): Promise<void> {
  while (!(await probe())) await new Promise((resolve) => setTimeout(resolve, everyMs));
}

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] ?? NaN;
}

function pct(value: number): string {
  return `${value >= 0 ? "+" : ""}${(value * 100).toFixed(1)}%`;
}
