/**
 * Prometheus `/metrics` scraped over HTTP and parsed strictly as the Prometheus text format: the counters agree
 * with the batch's own counts and usage and with what the upstream saw (calls, 429s, retries), the Store's
 * gauges show the queue while Items wait, and an API-only process sharing the Store (one SQLite file, or
 * one PostgreSQL schema) reports the same queue as the process doing the work.
 */
import OpenAI, { toFile } from "openai";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { chatFile, chatLine } from "../helpers/batch-files.ts";
import { startFakeOpenAIUpstream, type FakeOpenAIUpstream } from "../helpers/fake-openai-upstream.ts";
import { postgresUnavailableReason, TEST_DATABASE_URL, testSchemaName } from "../helpers/postgres.ts";
import { scrapeMetrics } from "../helpers/prometheus.ts";
import { startTestApp, type TestApp } from "../helpers/spool-app.ts";
import { waitFor } from "../helpers/wait-for.ts";

const KEY = "sk-metrics";
const auth = { authorization: `Bearer ${KEY}` };
const MODEL = { model: "gpt-test" };

let upstream: FakeOpenAIUpstream;
let spool: TestApp;
let apiOnly: TestApp;
let client: OpenAI;
let gate: { open: () => void; promise: Promise<void> } | null = null;
const postgresAvailable = (await postgresUnavailableReason()) === null;
// A fixed limit (`adaptive: false`): these tests count requests against it; adaptive limits are tested in
// test/dispatch/adaptive-concurrency.test.ts.
const CONFIG = () => ({ apiKeys: [KEY], models: [{ name: "gpt-test", engine: "openai" as const, baseUrl: upstream.url, concurrency: 3, maxRetries: 2, adaptive: false }], worker: { sweepMs: 100 } });

beforeAll(async () => {
  upstream = await startFakeOpenAIUpstream({ prefixCache: true });
  upstream.setFault(({ key, attemptForKey }) => {
    if (gate && key.startsWith("held")) return { until: gate.promise };
    if (key.startsWith("reject")) return { status: 400 };
    if (key.startsWith("limited") && attemptForKey === 1) return { status: 429, retryAfterMs: "20" };
    return undefined;
  });
  const config = CONFIG();
  spool = await startTestApp(config, { label: "metrics" });
  // Same data dir (one SQLite file), no Workers: like an API process of a scale-out deployment.
  apiOnly = await startTestApp(config, { dataDir: spool.dataDir, workers: false });
  client = new OpenAI({ apiKey: KEY, baseURL: spool.openaiBaseUrl, maxRetries: 0 });
});

afterAll(async () => {
  gate?.open();
  await apiOnly?.stop();
  await spool?.stop();
  await upstream?.close();
});

async function runBatch(content: string) {
  const file = await client.files.create({ file: await toFile(Buffer.from(content), "batch.jsonl"), purpose: "batch" });
  const created = await client.batches.create({ input_file_id: file.id, endpoint: "/v1/chat/completions", completion_window: "24h" });
  return created;
}

describe("Prometheus /metrics", () => {
  it("needs the API key like the rest of the API", async () => {
    expect((await fetch(`${spool.url}/metrics`)).status).toBe(401);
    expect((await fetch(`${spool.url}/metrics`, { headers: auth })).status).toBe(200);
  });

  it("counts items, tokens, upstream calls, 429s and retries in agreement with the batch and the upstream", async () => {
    const before = await scrapeMetrics(spool.url, auth);
    const callsBefore = before.count("spool_upstream_request_duration_seconds", { ...MODEL, outcome: "ok" }) ?? 0;
    upstream.resetCounts();
    const lines = [...chatFile(12).trim().split("\n"), chatLine("r1", "reject 1"), chatLine("r2", "reject 2"), chatLine("l1", "limited 1"), chatLine("l2", "limited 2"), chatLine("l3", "limited 3")];
    const created = await runBatch(`${lines.join("\n")}\n`);
    const done = await waitFor(async () => {
      const batch = await client.batches.retrieve(created.id);
      return batch.status === "completed" ? batch : undefined;
    }, { what: "the batch to complete" });
    const scrape = await scrapeMetrics(spool.url, auth);

    expect(done.request_counts).toEqual({ total: 17, completed: 15, failed: 2 });
    expect(scrape.value("spool_items_finished_total", { ...MODEL, status: "succeeded" })).toBe(done.request_counts?.completed);
    expect(scrape.value("spool_items_finished_total", { ...MODEL, status: "failed" })).toBe(done.request_counts?.failed);
    expect(scrape.value("spool_items_claimed_total", MODEL)).toBe(17);
    expect(scrape.value("spool_tokens_total", { ...MODEL, type: "input" })).toBe(done.usage?.input_tokens);
    expect(scrape.value("spool_tokens_total", { ...MODEL, type: "output" })).toBe(done.usage?.output_tokens);
    expect(scrape.value("spool_upstream_rate_limited_total", MODEL)).toBe(3);
    expect(scrape.value("spool_upstream_retries_total", { ...MODEL, reason: "http_429" })).toBe(3);
    expect(scrape.count("spool_upstream_request_duration_seconds", { ...MODEL, outcome: "http_429" })).toBe(3);
    expect(scrape.count("spool_upstream_request_duration_seconds", { ...MODEL, outcome: "http_400" })).toBe(2);
    // Every call the upstream answered was timed once.
    expect((scrape.count("spool_upstream_request_duration_seconds", { ...MODEL, outcome: "ok" }) ?? 0) - callsBefore + 5).toBe(upstream.requests);
    expect(scrape.count("spool_item_pickup_delay_seconds", MODEL)).toBe(17);
    expect(scrape.count("spool_item_time_to_result_seconds", MODEL)).toBe(17);
    expect(scrape.count("spool_batch_validation_duration_seconds", { outcome: "in_progress" })).toBeGreaterThanOrEqual(1);
    expect(scrape.count("spool_batch_finalization_duration_seconds", { status: "completed" })).toBeGreaterThanOrEqual(1);
    expect(scrape.value("spool_batches_ended_total", { dialect: "openai", status: "completed" })).toBeGreaterThanOrEqual(1);
    // The Store's gauges come from a snapshot up to 250 ms old (store-gauges.ts): the first scrape may
    // predate the batch's end; the next snapshot must show it.
    const gauges = await waitFor(async () => {
      const next = await scrapeMetrics(spool.url, auth);
      return (next.value("spool_batches", { status: "completed" }) ?? 0) >= 1 ? next : undefined;
    }, { what: "the Store gauges to show the completed batch" });
    expect(gauges.value("spool_items", { ...MODEL, status: "pending" })).toBe(0);
    expect(scrape.value("spool_concurrency_limit", MODEL)).toBe(3);
    expect(scrape.value("spool_store_errors_total")).toBeUndefined();
    // Process metrics under their conventional names.
    expect(scrape.value("process_cpu_user_seconds_total")).toBeGreaterThan(0);
    expect(scrape.families.get("nodejs_eventloop_lag_seconds")?.type).toBe("gauge");
    expect(scrape.families.get("spool_upstream_request_duration_seconds")?.type).toBe("histogram");
    for (const family of scrape.families.values()) expect(family.name).toMatch(/^(spool|process|nodejs)_[a-z0-9_]+$/);
  });

  it("counts the input tokens the upstream says it took from its prefix cache", async () => {
    const system = "You answer questions about parcels in one sentence. ".repeat(6);
    const lines = Array.from({ length: 4 }, (_, i) => chatLine(`cached-${i}`, `parcel ${i}`, "gpt-test", { messages: [{ role: "system", content: system }, { role: "user", content: `parcel ${i}` }] }));
    const before = (await scrapeMetrics(spool.url, auth)).value("spool_tokens_total", { ...MODEL, type: "cached_input" }) ?? 0;
    const created = await runBatch(`${lines.join("\n")}\n`);
    await waitFor(async () => ((await client.batches.retrieve(created.id)).status === "completed" ? true : undefined), { what: "the batch to complete" });
    const scrape = await scrapeMetrics(spool.url, auth);
    // The upstream (like vLLM) caches the system prompt on the first request and reports it on the other three.
    const systemTokens = 4 + Math.ceil(system.length / 4);
    expect((scrape.value("spool_tokens_total", { ...MODEL, type: "cached_input" }) ?? 0) - before).toBe(3 * systemTokens);
  });

  it("shows the queue from the store while items wait, the same in an API-only process (SQLite)", async () => {
    await expectQueueSeenByEveryProcess(spool, apiOnly, client);
  });

});

describe.skipIf(!postgresAvailable)("Prometheus /metrics on PostgreSQL", () => {
  it("shows the same store-derived queue whichever process is scraped", async () => {
    const url = new URL(TEST_DATABASE_URL);
    url.searchParams.set("schema", testSchemaName("metrics across processes"));
    const config = { ...CONFIG(), databaseUrl: url.toString() };
    const worker = await startTestApp(config, { label: "metrics-pg-worker" });
    const api = await startTestApp(config, { label: "metrics-pg-api", workers: false });
    try {
      await expectQueueSeenByEveryProcess(worker, api, new OpenAI({ apiKey: KEY, baseURL: api.openaiBaseUrl, maxRetries: 0 }));
    } finally {
      await api.stop();
      await worker.stop();
    }
  });
});

/**
 * A batch held upstream: the Worker's process and an API-only process on the same Store report the same
 * queue (Items the Worker leased are running, the rest pending), and it empties when the batch ends.
 */
async function expectQueueSeenByEveryProcess(worker: TestApp, api: TestApp, sdk: OpenAI): Promise<void> {
  let open = (): void => undefined;
  gate = { promise: new Promise<void>((resolve) => (open = resolve)), open: () => open() };
  const file = await sdk.files.create({ file: await toFile(Buffer.from(chatFile(10, { prefix: "held" })), "batch.jsonl"), purpose: "batch" });
  const created = await sdk.batches.create({ input_file_id: file.id, endpoint: "/v1/chat/completions", completion_window: "24h" });
  const expectQueue = async (url: string) => {
    const scrape = await scrapeMetrics(url, auth);
    // A Worker claims up to twice its Model's concurrency: 6 Items are running (leased), 3 of them in
    // flight upstream and 3 waiting in the Dispatcher; 4 are still pending.
    return scrape.value("spool_items", { ...MODEL, status: "running" }) === 6 && scrape.value("spool_items", { ...MODEL, status: "pending" }) === 4 ? scrape : undefined;
  };
  // On PostgreSQL the Worker's process takes the whole concurrency once the capacity ledger's next beat
  // (1 s) says the API-only process has no requests for the Model; until then it holds a share of it.
  const atWorker = await waitFor(async () => {
    const scrape = await expectQueue(worker.url);
    return scrape?.value("spool_requests_in_flight", MODEL) === 3 ? scrape : undefined;
  }, { what: "6 running and 4 pending items, 3 of them in flight, in the worker's /metrics" });
  const atApi = await waitFor(() => expectQueue(api.url), { what: "the same queue seen by the API-only process" });
  expect(atWorker.value("spool_requests_in_flight", MODEL)).toBe(3);
  expect(atWorker.value("spool_requests_waiting", MODEL)).toBe(3);
  expect(atApi.value("spool_requests_in_flight", MODEL)).toBe(0);
  expect(atApi.value("spool_batches", { status: "in_progress" })).toBe(1);
  expect(atApi.value("spool_queue_oldest_item_age_seconds", MODEL)).toBeGreaterThan(0);
  gate.open();
  await waitFor(async () => (await sdk.batches.retrieve(created.id)).status === "completed", { what: "the held batch to complete" });
  gate = null;
  const after = await waitFor(async () => {
    const scrape = await scrapeMetrics(api.url, auth);
    return scrape.value("spool_items", { ...MODEL, status: "pending" }) === 0 ? scrape : undefined;
  }, { what: "the queue to empty" });
  expect(after.value("spool_queue_oldest_item_age_seconds", MODEL)).toBe(0);
}
