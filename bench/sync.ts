/**
 * `sync`: what spool adds to a synchronous request (issue #11). `POST /v1/chat/completions` and
 * `/v1/embeddings` through spool vs straight to the same instant upstream process, from the same undici
 * client: added median latency at concurrency 1 (goal <= 0.3 ms) and throughput at concurrency 64 (goal
 * >= 0.6x), with spool's CPU per request. A bare Node proxy (bare-proxy-process.ts) is measured alongside:
 * what any Node.js passthrough costs on the machine at hand, so the gap splits into Node's part and spool's.
 * Then the p99 latency of sync chat requests sent at a steady 30/s
 * for 10 s while a 200k-Item Batch runs on the same Model vs the same requests on an idle spool (goal <= 3x;
 * the issue names 100k, but spool now runs 100k Items within the 10 s of load, and the load must see a
 * running Batch throughout);
 * the idle p99 is measured before the Batch and again after it is cancelled, and the lower one is the
 * baseline (a neighbour's CPU spike on the shared machine must not make the goal easier). About a minute.
 */
import { createReadStream, mkdtempSync, rmSync } from "node:fs";
import OpenAI from "openai";
import { Pool } from "undici";
import { benchChatLine, ensureChatFile, loadNote, quantile, ratio, row, verdict, workPath } from "./lib.ts";
import { cpuMsOf, startPeer, startSpool, startUpstream, type Peer } from "./processes.ts";
import { writeBenchConfig } from "./end-to-end.ts";

const MODEL = "gpt-bench";
const CONCURRENCY = 64;
/** Sequential requests per side at concurrency 1, in alternating rounds (drift on a shared machine hits both). */
const SERIAL_REQUESTS = 2_000;
const ROUNDS = 4;
/** Requests per side at concurrency 64. */
const PARALLEL_REQUESTS = 20_000;
/** The steady sync load during the Batch: RATE per second for SECONDS (300 requests: p99 is the 3rd worst). */
const RATE = 30;
const SECONDS = 10;
const BATCH_ITEMS = 200_000;

const ENDPOINTS = {
  chat: { path: "/chat/completions", body: (i: number) => JSON.stringify((JSON.parse(benchChatLine(i, 520, MODEL)) as { body: unknown }).body) },
  embeddings: { path: "/embeddings", body: (i: number) => JSON.stringify({ model: MODEL, input: `Sentence ${i} to embed: the quick brown fox jumps over the lazy dog.` }) },
} as const;
type EndpointName = keyof typeof ENDPOINTS;

/** One target of the same requests: `prefix` is the path of its OpenAI-compatible root (`/v1`). */
interface Target {
  origin: string;
  prefix: string;
}

const targetOf = (baseUrl: string): Target => {
  const url = new URL(baseUrl);
  return { origin: url.origin, prefix: url.pathname.replace(/\/$/, "") };
};

/** Sends `count` requests over `connections` keep-alive connections; latencies in ms, in completion order. */
async function send(target: Target, endpoint: EndpointName, count: number, connections: number): Promise<{ latencies: number[]; seconds: number }> {
  const pool = new Pool(target.origin, { connections, pipelining: 1 });
  const { path: endpointPath, body } = ENDPOINTS[endpoint];
  const bodies = Array.from({ length: count }, (_, i) => body(i));
  const latencies: number[] = [];
  let next = 0;
  try {
    const started = performance.now();
    await Promise.all(
      Array.from({ length: connections }, async () => {
        while (next < count) {
          const requestBody = bodies[next++];
          const sent = performance.now();
          const response = await pool.request({ method: "POST", path: `${target.prefix}${endpointPath}`, headers: { "content-type": "application/json" }, body: requestBody });
          await response.body.arrayBuffer();
          if (response.statusCode !== 200) throw new Error(`${endpointPath} answered ${response.statusCode}`);
          latencies.push(performance.now() - sent);
        }
      }),
    );
    return { latencies, seconds: (performance.now() - started) / 1000 };
  } finally {
    await pool.close();
  }
}

/**
 * One endpoint three ways: straight to the upstream, through the bare Node proxy (bare-proxy-process.ts: the
 * floor any Node.js passthrough pays on this machine) and through spool. The goals compare spool with direct;
 * the floor says how much of the gap is Node's and how much is spool's.
 */
async function compareEndpoint(endpoint: EndpointName, upstream: Peer, bare: Peer, spool: Peer): Promise<void> {
  const direct = targetOf(upstream.url);
  const viaBare = targetOf(bare.url);
  const viaSpool = targetOf(`${spool.url}/v1`);
  for (const target of [direct, viaBare, viaSpool]) await send(target, endpoint, 200, 1);
  const serial = { direct: [] as number[], bare: [] as number[], spool: [] as number[] };
  for (let round = 0; round < ROUNDS; round += 1) {
    serial.direct.push(...(await send(direct, endpoint, SERIAL_REQUESTS / ROUNDS, 1)).latencies);
    serial.bare.push(...(await send(viaBare, endpoint, SERIAL_REQUESTS / ROUNDS, 1)).latencies);
    serial.spool.push(...(await send(viaSpool, endpoint, SERIAL_REQUESTS / ROUNDS, 1)).latencies);
  }
  const [directMedian, bareMedian, spoolMedian] = [quantile(serial.direct, 0.5), quantile(serial.bare, 0.5), quantile(serial.spool, 0.5)];
  const added = spoolMedian - directMedian;
  row(
    `${endpoint}: median latency, concurrency 1 (direct / bare proxy / spool)`,
    `${directMedian.toFixed(3)} / ${bareMedian.toFixed(3)} / ${spoolMedian.toFixed(3)} ms`,
    `p99 ${quantile(serial.direct, 0.99).toFixed(2)} / ${quantile(serial.bare, 0.99).toFixed(2)} / ${quantile(serial.spool, 0.99).toFixed(2)} ms`,
  );
  row(`${endpoint}: added median latency`, `${added.toFixed(3)} ms`, `${verdict(added, { max: 0.3 }, " ms")}; the bare Node proxy adds ${(bareMedian - directMedian).toFixed(3)} ms`);

  const measure = async (target: Target, peer: Peer): Promise<{ rate: number; latencies: number[]; cpuUs: string }> => {
    const before = cpuMsOf(peer.child);
    const run = await send(target, endpoint, PARALLEL_REQUESTS, CONCURRENCY);
    const after = cpuMsOf(peer.child);
    const cpuUs = before === null || after === null ? "n/a" : (((after - before) * 1000) / PARALLEL_REQUESTS).toFixed(0);
    return { rate: PARALLEL_REQUESTS / run.seconds, latencies: run.latencies, cpuUs };
  };
  const directRun = await measure(direct, upstream);
  const bareRun = await measure(viaBare, bare);
  const spoolRun = await measure(viaSpool, spool);
  const cpu = `CPU/request: spool ${spoolRun.cpuUs} µs, bare proxy ${bareRun.cpuUs} µs, upstream ${directRun.cpuUs} µs`;
  row(
    `${endpoint}: throughput, concurrency ${CONCURRENCY} (direct / bare proxy / spool)`,
    `${[directRun, bareRun, spoolRun].map((run) => Math.round(run.rate).toLocaleString()).join(" / ")} req/s`,
    `median ${quantile(spoolRun.latencies, 0.5).toFixed(2)} ms via spool; ${cpu}`,
  );
  row(`${endpoint}: throughput ratio spool / direct`, ratio(spoolRun.rate, directRun.rate, { min: 0.6 }), `bare Node proxy / direct ${(bareRun.rate / directRun.rate).toFixed(2)}x; spool / bare proxy ${(spoolRun.rate / bareRun.rate).toFixed(2)}x`);
}

/** RATE chat requests a second for SECONDS, each sent on schedule whatever the others do (open loop); latencies in ms. */
async function steadyLoad(target: Target): Promise<number[]> {
  const pool = new Pool(target.origin, { connections: 4 });
  const started = performance.now();
  try {
    return await Promise.all(
      Array.from({ length: RATE * SECONDS }, async (_, i) => {
        await new Promise((resolve) => setTimeout(resolve, started + (i * 1000) / RATE - performance.now()));
        const sent = performance.now();
        const response = await pool.request({ method: "POST", path: `${target.prefix}/chat/completions`, headers: { "content-type": "application/json" }, body: ENDPOINTS.chat.body(i) });
        await response.body.arrayBuffer();
        if (response.statusCode !== 200) throw new Error(`sync request during the batch answered ${response.statusCode}`);
        return performance.now() - sent;
      }),
    );
  } finally {
    await pool.close();
  }
}

async function syncDuringBatch(spool: Peer): Promise<void> {
  const viaSpool = targetOf(`${spool.url}/v1`);
  const idleBefore = await steadyLoad(viaSpool);
  const file = workPath(`chat-${BATCH_ITEMS}.jsonl`);
  await ensureChatFile(file, BATCH_ITEMS);
  const client = new OpenAI({ apiKey: "bench", baseURL: `${spool.url}/v1`, maxRetries: 0, timeout: 600_000 });
  const uploaded = await client.files.create({ file: createReadStream(file), purpose: "batch" });
  const batch = await client.batches.create({ input_file_id: uploaded.id, endpoint: "/v1/chat/completions", completion_window: "24h" });
  // Wait until the Batch's Items are being dispatched (validation done, results arriving).
  await pollUntil(client, batch.id, (current) => (current.request_counts?.completed ?? 0) > 0);
  const busy = await steadyLoad(viaSpool);
  const after = await client.batches.retrieve(batch.id);
  const done = after.request_counts?.completed ?? 0;
  const overlap = after.status === "in_progress" ? `the Batch ran throughout (${done.toLocaleString()} of ${BATCH_ITEMS.toLocaleString()} Items done at the end)` : `the Batch ENDED (${after.status}) before the load did: figure understated`;
  // A Batch that ended on its own (spool outran the load) has nothing to cancel.
  if (!TERMINAL.includes(after.status)) await client.batches.cancel(batch.id).catch((error: unknown) => (error instanceof OpenAI.ConflictError ? null : Promise.reject(error)));
  await pollUntil(client, batch.id, (current) => TERMINAL.includes(current.status));
  const idleAfter = await steadyLoad(viaSpool);
  const [before, afterP99, busyP99] = [quantile(idleBefore, 0.99), quantile(idleAfter, 0.99), quantile(busy, 0.99)];
  const idle = Math.min(before, afterP99);
  row("sync chat p99 latency, idle spool (before / after)", `${before.toFixed(2)} / ${afterP99.toFixed(2)} ms`, `medians ${quantile(idleBefore, 0.5).toFixed(2)} / ${quantile(idleAfter, 0.5).toFixed(2)} ms; ${RATE}/s for ${SECONDS} s`);
  row(`same while a ${BATCH_ITEMS.toLocaleString()}-Item Batch runs on its Model`, `${busyP99.toFixed(2)} ms`, `median ${quantile(busy, 0.5).toFixed(2)} ms, max ${Math.max(...busy).toFixed(2)} ms; ${overlap}`);
  row("p99 ratio busy / idle (the lower idle p99)", ratio(busyP99, idle, { max: 3 }));
}

const TERMINAL = ["completed", "failed", "expired", "cancelled"];

/** Polls the Batch every 100 ms until `done` holds (at most 5 minutes). */
async function pollUntil(client: OpenAI, batchId: string, done: (batch: OpenAI.Batch) => boolean): Promise<void> {
  const deadline = performance.now() + 300_000;
  for (let current = await client.batches.retrieve(batchId); !done(current); current = await client.batches.retrieve(batchId)) {
    if (TERMINAL.includes(current.status)) throw new Error(`bench batch ${batchId} ended ${current.status} before the bench expected it to`);
    if (performance.now() > deadline) throw new Error(`bench batch ${batchId} is still ${current.status} after 5 minutes`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

export async function benchSync(): Promise<void> {
  console.log(`\nSync passthrough: chat and embeddings via spool vs straight to the same instant upstream (${loadNote()})`);
  const upstream = await startUpstream(0);
  const dir = mkdtempSync(workPath("sync-"));
  try {
    const spool = await startSpool("serve", writeBenchConfig(dir, { models: [{ name: MODEL, engine: "openai", baseUrl: upstream.url, concurrency: CONCURRENCY }] }));
    const bare = await startPeer(["--import", "tsx", "bench/bare-proxy-process.ts", upstream.url], /"url":"(http:[^"]+)"/);
    try {
      for (const endpoint of Object.keys(ENDPOINTS) as EndpointName[]) await compareEndpoint(endpoint, upstream, bare, spool);
      await bare.stop();
      await syncDuringBatch(spool);
    } finally {
      await Promise.all([spool.stop(), bare.stop()]);
    }
    console.log(`  (${loadNote()} at the end)`);
  } finally {
    await upstream.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}
