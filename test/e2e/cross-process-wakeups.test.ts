/**
 * Processes sharing PostgreSQL wake each other (decision 0046). Every process here polls only every 10 s
 * (`pollMs`, `sweepMs`), so what happens within a couple of seconds happens because another process
 * announced it:
 * - a Batch created through an API-only process is validated and run by a worker process at once;
 * - a worker process idle in its poll back-off joins a Batch another process started;
 * - a cancel through one process stops another's validation of the Batch at its next chunk, and aborts the
 *   requests another process is running, starting none of the ones it had claimed ahead.
 */
import OpenAI, { toFile } from "openai";
import { afterEach, describe, expect, it } from "vitest";
import type { ConfigFile } from "../../src/config/config.ts";
import { chatFile } from "../helpers/batch-files.ts";
import { startFakeOpenAIUpstream, type FakeOpenAIUpstream } from "../helpers/fake-openai-upstream.ts";
import { validationUnderWay } from "../helpers/openai-batch-run.ts";
import { postgresUnavailableReason, TEST_DATABASE_URL, testSchemaName } from "../helpers/postgres.ts";
import { startTestApp, type TestApp } from "../helpers/spool-app.ts";
import { waitFor } from "../helpers/wait-for.ts";

const available = (await postgresUnavailableReason()) === null;
const POLL_MS = 10_000;
const apps: TestApp[] = [];
let upstream: FakeOpenAIUpstream | null = null;

afterEach(async () => {
  for (const app of apps.splice(0).reverse()) await app.stop();
  await upstream?.close();
  upstream = null;
});

function configOn(schema: string, latencyUpstream: FakeOpenAIUpstream, concurrency = 2): ConfigFile {
  const url = new URL(TEST_DATABASE_URL);
  url.searchParams.set("schema", schema);
  return {
    databaseUrl: url.toString(),
    models: [{ name: "gpt-test", engine: "openai", baseUrl: latencyUpstream.url, concurrency, maxRetries: 0 }],
    worker: { pollMs: POLL_MS, sweepMs: POLL_MS },
  };
}

async function start(config: ConfigFile, label: string, roles: { api?: boolean; workers?: boolean } = {}): Promise<TestApp> {
  const app = await startTestApp(config, { label, ...roles });
  apps.push(app);
  return app;
}

/** An instant upstream, and two processes on a fresh schema: one API-only, one running workers only. Returns the API one. */
async function apiAndWorker(name: string): Promise<TestApp> {
  upstream = await startFakeOpenAIUpstream();
  const config = configOn(testSchemaName(name), upstream);
  const api = await start(config, `${name}-api`, { workers: false });
  await start(config, `${name}-worker`, { api: false });
  return api;
}

async function createBatch(app: TestApp, lines: number): Promise<{ client: OpenAI; batch: OpenAI.Batch }> {
  const client = new OpenAI({ apiKey: "k", baseURL: app.openaiBaseUrl, maxRetries: 0 });
  const file = await client.files.create({ file: await toFile(Buffer.from(chatFile(lines)), "in.jsonl"), purpose: "batch" });
  const batch = await client.batches.create({ input_file_id: file.id, endpoint: "/v1/chat/completions", completion_window: "24h" });
  return { client, batch };
}

const ended = (client: OpenAI, id: string, status: string, timeoutMs: number) =>
  waitFor(async () => {
    const current = await client.batches.retrieve(id);
    return current.status === status ? current : undefined;
  }, { what: `the batch to be ${status}`, timeoutMs, intervalMs: 50 });

/** This process's `spool_items_claimed_total` for the Model, from its own /metrics. */
async function claimedBy(app: TestApp): Promise<number> {
  const text = await (await fetch(`${app.url}/metrics`)).text();
  const line = text.split("\n").find((each) => each.startsWith('spool_items_claimed_total{model="gpt-test"}'));
  return line === undefined ? 0 : Number(line.split(" ").at(-1));
}

describe.skipIf(!available)("wake-ups between processes on PostgreSQL", () => {
  it("validates and runs at once a Batch created through an API-only process", async () => {
    const api = await apiAndWorker("wakeups created");
    const { client, batch } = await createBatch(api, 20);
    // Polling alone, the worker's Sweeper would look for it 10 s after it started.
    const done = await ended(client, batch.id, "completed", 4_000);
    expect(done.request_counts).toEqual({ total: 20, completed: 20, failed: 0 });
  }, 20_000);

  it("wakes a worker idle in its poll back-off when another process starts a Batch", async () => {
    upstream = await startFakeOpenAIUpstream({ latencyMs: 20 });
    const config = configOn(testSchemaName("wakeups claimable"), upstream);
    const idle = await start(config, "wake-idle");
    // An idle lane looks again after 10, 20, 40 ... ms: past ~5.1 s its next look is ~5.1 s away.
    await new Promise((resolve) => setTimeout(resolve, 5_300));
    const busy = await start(config, "wake-busy");
    expect(await claimedBy(idle)).toBe(0);
    const { client, batch } = await createBatch(busy, 150);
    await waitFor(async () => (await claimedBy(idle)) > 0, { what: "the idle process to claim Items of the new Batch", timeoutMs: 3_000, intervalMs: 50 });
    const done = await ended(client, batch.id, "completed", 30_000);
    expect(done.request_counts).toEqual({ total: 150, completed: 150, failed: 0 });
    expect((await claimedBy(idle)) + (await claimedBy(busy))).toBeGreaterThanOrEqual(150);
  }, 60_000);

  it("stops another process's validation under way when the Batch is cancelled", async () => {
    const api = await apiAndWorker("wakeups cancel validating");
    const lines = 100_000;
    const { client, batch } = await createBatch(api, lines);
    await validationUnderWay(client, batch.id, 10_000);
    await client.batches.cancel(batch.id);
    const done = await ended(client, batch.id, "cancelled", 10_000);
    // Read to the end, every line would have become a cancelled Item.
    expect(done.request_counts).toEqual({ total: 0, completed: 0, failed: 0 });
  }, 30_000);

  it("aborts another process's running requests of a cancelled Batch and ends it cancelled", async () => {
    upstream = await startFakeOpenAIUpstream({ latencyMs: 5_000 });
    const config = configOn(testSchemaName("wakeups cancelled"), upstream);
    // The Batch is created and run by one process and cancelled through another.
    const worker = await start(config, "cancel-worker");
    const api = await start(config, "cancel-api", { workers: false });
    const { batch } = await createBatch(worker, 10);
    // Its share of the Model's two slots (the API process may hold the other for sync requests).
    await waitFor(() => upstream!.inFlight > 0, { what: "the worker process running requests", timeoutMs: 4_000 });
    const client = new OpenAI({ apiKey: "k", baseURL: api.openaiBaseUrl, maxRetries: 0 });
    await client.batches.cancel(batch.id);
    const sentAtCancel = upstream.requests;
    await waitFor(() => upstream!.inFlight === 0, { what: "the running requests aborted", timeoutMs: 2_000 });
    const done = await ended(client, batch.id, "cancelled", 3_000);
    expect(done.request_counts).toEqual({ total: 10, completed: 0, failed: 10 });
    // The Items the worker had claimed ahead never reached the upstream.
    expect(upstream.requests).toBe(sentAtCancel);
    // The worker says what it heard: the one cancel (its own Batch's creation and start it did not hear).
    const heard = (await (await fetch(`${worker.url}/metrics`)).text()).split("\n").filter((line) => line.startsWith("spool_work_events_total{"));
    expect(heard).toEqual(['spool_work_events_total{kind="cancelled"} 1']);
  }, 20_000);
});
