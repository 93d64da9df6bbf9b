/**
 * Adaptive concurrency (issue 12, part 1) under load: the ModelDispatcher and the real OpenAI Engine against
 * an in-process upstream that accepts N requests at once and answers 429 beyond, spool configured for 256.
 * A steady stream of Batch requests keeps the lane full (a window of 512 outstanding). Prints throughput
 * against the upstream's capacity throughput, measured in the same run as spool with `adaptive: false` and
 * `concurrency: N` (exactly the capacity, never a 429; N / latency ignores this machine's overhead), the share of attempts answered 429 after the
 * first 10 s, and how long the limit takes to follow capacity changes 32 → 96 → 16.
 */
import type { OpenAIModelConfig } from "../src/config/config.ts";
import { ModelDispatcher } from "../src/dispatch/model-dispatcher.ts";
import { OpenAIEngine } from "../src/engines/openai/openai-engine.ts";
import { startFakeOpenAIUpstream, type FakeOpenAIUpstream } from "../test/helpers/fake-openai-upstream.ts";
import { row } from "./lib.ts";

const LATENCY_MS = 50;
const OUTSTANDING = 512;

interface Load {
  completed: number;
  stop(): Promise<void>;
}

/** Keeps OUTSTANDING requests in the dispatcher until stopped. */
function keepBusy(dispatcher: ModelDispatcher, model: string): Load {
  let running = true;
  let sequence = 0;
  const load = { completed: 0, stop: async () => {} };
  const loop = async (): Promise<void> => {
    while (running) {
      const text = `r ${sequence++}`;
      await dispatcher.dispatch({ model, kind: "chat", dialect: "openai", priority: "batch", body: { model, messages: [{ role: "user", content: text }] } }).catch(() => undefined);
      load.completed += 1;
    }
  };
  const loops = Array.from({ length: OUTSTANDING }, () => loop());
  load.stop = async () => {
    running = false;
    await Promise.all(loops);
  };
  return load;
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));
const verdict = (met: boolean): string => (met ? "met" : "NOT met");

async function setUp(fixed?: number): Promise<{ upstream: FakeOpenAIUpstream; dispatcher: ModelDispatcher; engine: OpenAIEngine; model: OpenAIModelConfig }> {
  const upstream = await startFakeOpenAIUpstream({ latencyMs: LATENCY_MS });
  const engine = new OpenAIEngine();
  const limit = fixed === undefined ? { concurrency: 256 } : { concurrency: fixed, adaptive: false };
  const model: OpenAIModelConfig = { name: "gpt-bench", engine: "openai", baseUrl: upstream.url, ...limit, timeoutMs: 30_000, maxRetries: 50 };
  const dispatcher = new ModelDispatcher({ resolve: (name) => (name === model.name ? { engine, model } : undefined), retry: { baseMs: 50, capMs: 1_000 } });
  return { upstream, dispatcher, engine, model };
}

/** Throughput of spool at a fixed concurrency of `n` against an upstream accepting `n`. */
async function measure(n: number, warmMs: number, forMs: number): Promise<{ throughput: number }> {
  const { upstream, dispatcher, engine, model } = await setUp(n);
  upstream.setCapacity(n);
  const load = keepBusy(dispatcher, model.name);
  await sleep(warmMs);
  const before = load.completed;
  const started = Date.now();
  await sleep(forMs);
  const throughput = (load.completed - before) / ((Date.now() - started) / 1000);
  await load.stop();
  await dispatcher.close();
  await engine.close();
  await upstream.close();
  return { throughput };
}

export async function benchCapacity(): Promise<void> {
  console.log(`\nAdaptive concurrency: upstream accepting N at once (${LATENCY_MS} ms per answer, 429 beyond), spool concurrency 256`);
  const capacity = await measure(32, 3_000, 10_000);
  row("N = 32: capacity throughput (fixed concurrency 32)", `${capacity.throughput.toFixed(0)} req/s`, `${((capacity.throughput / (32_000 / LATENCY_MS)) * 100).toFixed(0)}% of N / latency`);
  {
    const { upstream, dispatcher, engine, model } = await setUp();
    upstream.setCapacity(32);
    const load = keepBusy(dispatcher, model.name);
    await sleep(10_000);
    upstream.resetCounts();
    const before = load.completed;
    const started = Date.now();
    await sleep(20_000);
    const seconds = (Date.now() - started) / 1000;
    const throughput = (load.completed - before) / seconds;
    const rejectedShare = upstream.rejectedByCapacity / Math.max(1, upstream.requests);
    row("N = 32: throughput (20 s after a 10 s warm-up)", `${throughput.toFixed(0)} req/s`, `${((throughput / capacity.throughput) * 100).toFixed(1)}% of capacity (goal >= 90%: ${verdict(throughput >= 0.9 * capacity.throughput)})`);
    row("N = 32: attempts answered 429 after the first 10 s", `${(rejectedShare * 100).toFixed(2)}%`, `(goal <= 2%: ${verdict(rejectedShare <= 0.02)})`);
    row("N = 32: limit at the end", `${dispatcher.load(model.name).concurrency}`);
    await load.stop();
    await dispatcher.close();
    await engine.close();
    await upstream.close();
  }
  {
    const { upstream, dispatcher, engine, model } = await setUp();
    const load = keepBusy(dispatcher, model.name);
    const follow = async (capacity: number, reached: (limit: number) => boolean): Promise<void> => {
      upstream.setCapacity(capacity);
      const started = Date.now();
      while (!reached(dispatcher.load(model.name).concurrency) && Date.now() - started < 30_000) await sleep(50);
      const seconds = (Date.now() - started) / 1000;
      row(`capacity -> ${capacity}: limit within ±25% after`, `${seconds.toFixed(1)} s`, `limit ${dispatcher.load(model.name).concurrency} (goal <= 10 s: ${verdict(seconds <= 10)})`);
    };
    const near = (capacity: number) => (limit: number) => limit >= capacity * 0.75 && limit <= capacity * 1.25;
    await follow(32, near(32));
    await sleep(3_000);
    await follow(96, near(96));
    await sleep(3_000);
    await follow(16, near(16));
    await load.stop();
    await dispatcher.close();
    await engine.close();
    await upstream.close();
  }
}
