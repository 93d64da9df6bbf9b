/**
 * (backends) Several backends per Model, chosen by price and deadline (issue 12, part 5), through a real
 * in-process spool (SQLite, Workers, OpenAI SDK client) and two in-process upstreams:
 *
 * - cheap-slow: 4 at a time, 100 ms per request (≈ 40 Items/s), price 1x;
 * - dear-fast: 16 at a time, 25 ms per request (≈ 640 Items/s), price 10x (input and output).
 *
 * One Batch of ITEMS requests with a completion window WINDOW the cheap backend alone would miss. Printed:
 * whether the deadline was met, the Items each backend ran, the Batch's cost (progress `cost.spent`), and
 * the cost of the greedy offline plan: the cheap backend at its rate for the whole window (from create to
 * deadline), the dear one for the rest, at the Batch's own average tokens per Item. The cheap backend's
 * rate is the higher of what it kept during the run (Items it ran over create-to-completed time; it is
 * busy throughout) and what it does alone on a Batch of its own, measured in the same run (this machine's
 * overhead included). Goal: deadline met, cost within 10% of the greedy plan. Also printed: all-dear cost.
 *
 * Sizes: SPOOL_BENCH_BACKENDS_ITEMS (default 1,500), SPOOL_BENCH_BACKENDS_WINDOW_S (default 25).
 */
import OpenAI, { toFile } from "openai";
import type { ConfigFile } from "../src/config/config.ts";
import { chatFile } from "../test/helpers/batch-files.ts";
import { startFakeOpenAIUpstream, type FakeOpenAIUpstream } from "../test/helpers/fake-openai-upstream.ts";
import { startTestApp, type TestApp } from "../test/helpers/spool-app.ts";
import { loadNote, row, verdict } from "./lib.ts";

const ITEMS = Number(process.env.SPOOL_BENCH_BACKENDS_ITEMS ?? 1_500);
const WINDOW_S = Number(process.env.SPOOL_BENCH_BACKENDS_WINDOW_S ?? 25);
const CHEAP = { concurrency: 4, latencyMs: 100, price: { input: 0.5, output: 1 } };
const DEAR = { concurrency: 16, latencyMs: 25, price: { input: 5, output: 10 } };
const RATE_ITEMS = 200;

interface Progress {
  usage: { input_tokens: number; output_tokens: number };
  cost: { spent: number } | null;
}

export async function benchBackends(): Promise<void> {
  console.log(`\n(backends) [${loadNote()}] Cheap-slow (${CHEAP.concurrency} at ${CHEAP.latencyMs} ms, 1x) and dear-fast (${DEAR.concurrency} at ${DEAR.latencyMs} ms, 10x): ${ITEMS} requests due in ${WINDOW_S} s`);
  const cheap = await startFakeOpenAIUpstream({ latencyMs: CHEAP.latencyMs });
  const dear = await startFakeOpenAIUpstream({ latencyMs: DEAR.latencyMs });
  let spool: TestApp | null = null;
  try {
    spool = await startTestApp(configFor(cheap, dear), { label: "bench-backends" });
    const sdk = new OpenAI({ apiKey: "k", baseURL: spool.openaiBaseUrl, maxRetries: 0 });
    const cheapRate = await measureCheapRate(sdk);
    row("cheap backend alone", `${cheapRate.toFixed(1)} Items/s`, `would need ${(ITEMS / cheapRate).toFixed(1)} s for the Batch`);
    cheap.resetCounts();
    dear.resetCounts();

    const input = await sdk.files.create({ file: await toFile(Buffer.from(chatFile(ITEMS, { model: "gpt-multi", prefix: "deadline" })), "backends.jsonl"), purpose: "batch" });
    const createdMs = Date.now();
    const batch = await sdk.batches.create({ input_file_id: input.id, endpoint: "/v1/chat/completions", completion_window: `${WINDOW_S}s` as "24h" });
    let current = await sdk.batches.retrieve(batch.id);
    while (!["completed", "expired", "failed", "cancelled"].includes(current.status)) {
      await new Promise((resolve) => setTimeout(resolve, 100));
      current = await sdk.batches.retrieve(batch.id);
    }
    const finishedS = (Date.now() - createdMs) / 1000;
    const progress = (await (await fetch(`${spool.url}/v1/batches/${batch.id}/progress`)).json()) as Progress;
    const byDear = dear.countsByKey.size;
    const byCheap = ITEMS - byDear;
    const perItem = { input: progress.usage.input_tokens / ITEMS, output: progress.usage.output_tokens / ITEMS };
    const itemCost = (price: { input: number; output: number }): number => (perItem.input * price.input + perItem.output * price.output) / 1e6;
    // The cheap backend at the pace it kept in this run (it was busy throughout), for the whole window: the
    // stricter plan. The pace measured alone includes a Batch's start-up, so it plans less on the cheap one.
    const runRate = byCheap / finishedS;
    const greedyCheap = Math.min(ITEMS, Math.floor(Math.max(runRate, cheapRate) * WINDOW_S));
    const greedy = greedyCheap * itemCost(CHEAP.price) + (ITEMS - greedyCheap) * itemCost(DEAR.price);
    const spent = progress.cost?.spent ?? NaN;
    // Completed (not expired): every Item had its result before the window closed; finalizing may end after.
    row("deadline", current.status === "completed" ? "met" : `NOT met (${current.status})`, `create to completed ${finishedS.toFixed(1)} s, window ${WINDOW_S} s`);
    row("Items by backend", `cheap ${byCheap}, dear ${byDear}`, `greedy plan: cheap ${greedyCheap}, dear ${ITEMS - greedyCheap}`);
    row("cost (progress)", `$${spent.toFixed(6)}`, `greedy plan $${greedy.toFixed(6)}: ${(spent / greedy).toFixed(3)}x ${verdict(spent / greedy, { max: 1.1 })}`);
    row("all on the dear backend", `$${(ITEMS * itemCost(DEAR.price)).toFixed(6)}`, `all on the cheap one $${(ITEMS * itemCost(CHEAP.price)).toFixed(6)} (misses the deadline)`);
  } finally {
    await spool?.stop();
    await cheap.close();
    await dear.close();
  }
}

function configFor(cheap: FakeOpenAIUpstream, dear: FakeOpenAIUpstream): ConfigFile {
  const cheapBackend = { engine: "openai" as const, baseUrl: cheap.url, concurrency: CHEAP.concurrency, price: CHEAP.price, adaptive: false };
  return {
    logLevel: "warn",
    models: [
      { name: "gpt-multi", ...cheapBackend, backendName: "cheap", backends: [{ name: "dear", engine: "openai", baseUrl: dear.url, concurrency: DEAR.concurrency, price: DEAR.price, adaptive: false }] },
      { name: "gpt-cheap", ...cheapBackend },
    ],
    worker: { sweepMs: 50, pollMs: 200 },
  };
}

/** Items per second of the cheap backend alone, create to completed, on a Batch of its own. */
async function measureCheapRate(sdk: OpenAI): Promise<number> {
  const input = await sdk.files.create({ file: await toFile(Buffer.from(chatFile(RATE_ITEMS, { model: "gpt-cheap", prefix: "rate" })), "rate.jsonl"), purpose: "batch" });
  const startedMs = Date.now();
  const batch = await sdk.batches.create({ input_file_id: input.id, endpoint: "/v1/chat/completions", completion_window: "24h" });
  while ((await sdk.batches.retrieve(batch.id)).status !== "completed") await new Promise((resolve) => setTimeout(resolve, 50));
  return RATE_ITEMS / ((Date.now() - startedMs) / 1000);
}
