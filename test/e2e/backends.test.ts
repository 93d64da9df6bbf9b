/**
 * A Model with two backends, end to end (issue 12, part 5), on SQLite and on PostgreSQL: real spool, the
 * OpenAI SDK as client, two loopback upstreams as the backends.
 *
 * - Killed mid-run: the cheap backend goes away (open connections reset, new ones refused) while a Batch
 *   runs; every Item still finishes, on the other backend, each exactly once (one result line per
 *   Item, no Item answered twice), and the Batch's cost charges each Item at the price of the backend
 *   that ran it.
 * - Deadline: a cheap-slow and a dear-fast backend, a window the cheap one alone would miss: the Batch
 *   meets it, using the dear one only partly (the bench section `backends` measures the cost against the
 *   greedy offline plan at a larger scale).
 */
import OpenAI, { toFile } from "openai";
import { afterEach, describe, expect, it } from "vitest";
import type { ConfigFile } from "../../src/config/config.ts";
import { chatFile } from "../helpers/batch-files.ts";
import { startFakeOpenAIUpstream, type FakeOpenAIUpstream } from "../helpers/fake-openai-upstream.ts";
import { scrapeMetrics } from "../helpers/prometheus.ts";
import { postgresUnavailableReason, TEST_DATABASE_URL, testSchemaName } from "../helpers/postgres.ts";
import { startTestApp, type TestApp } from "../helpers/spool-app.ts";
import { waitFor } from "../helpers/wait-for.ts";

const postgres = (await postgresUnavailableReason()) === null;
const CHEAP = { input: 0.5, output: 1 };
const DEAR = { input: 5, output: 10, batchDiscount: 0.5 };

interface Progress {
  request_counts: { succeeded: number; failed: number };
  cost: { spent: number; projected: number; sync_equivalent: number } | null;
}

interface ResultLine {
  custom_id: string;
  response: { status_code: number; body: { choices: { message: { content: string } }[]; usage: { prompt_tokens: number; completion_tokens: number } } } | null;
  error: unknown;
}

const started: { spool: TestApp; upstreams: FakeOpenAIUpstream[] }[] = [];

afterEach(async () => {
  for (const { spool, upstreams } of started.splice(0)) {
    await spool.stop();
    for (const upstream of upstreams) await upstream.close();
  }
});

async function startTwoBackends(label: string, store: "sqlite" | "postgres", settings: { cheap: { concurrency: number; latencyMs: number }; dear: { concurrency: number; latencyMs: number } }) {
  const cheap = await startFakeOpenAIUpstream({ latencyMs: settings.cheap.latencyMs });
  const dear = await startFakeOpenAIUpstream({ latencyMs: settings.dear.latencyMs });
  const databaseUrl = store === "postgres" ? withSchema(testSchemaName(`backends-${label}`)) : undefined;
  const file: ConfigFile = {
    ...(databaseUrl === undefined ? {} : { databaseUrl }),
    models: [
      {
        name: "gpt-multi", engine: "openai", baseUrl: cheap.url, concurrency: settings.cheap.concurrency, price: CHEAP, backendName: "cheap", adaptive: false,
        breaker: { failures: 3, cooldownMs: 60_000 },
        backends: [{ name: "dear", engine: "openai", baseUrl: dear.url, concurrency: settings.dear.concurrency, price: DEAR, adaptive: false }],
      },
    ],
    worker: { sweepMs: 50, pollMs: 200 },
  };
  const spool = await startTestApp(file, { label: `backends-${label}-${store}` });
  started.push({ spool, upstreams: [cheap, dear] });
  return { spool, cheap, dear, sdk: new OpenAI({ apiKey: "k", baseURL: spool.openaiBaseUrl, maxRetries: 0 }) };
}

function withSchema(schema: string): string {
  const url = new URL(TEST_DATABASE_URL);
  url.searchParams.set("schema", schema);
  return url.toString();
}

async function resultLines(sdk: OpenAI, fileId: string): Promise<ResultLine[]> {
  const text = await (await sdk.files.content(fileId)).text();
  return text.trim().split("\n").map((line) => JSON.parse(line) as ResultLine);
}

const stores = postgres ? (["sqlite", "postgres"] as const) : (["sqlite"] as const);

describe.each(stores)("a Model with two backends on %s", (store) => {
  it("finishes every Item on the other backend when one is killed mid-run, none lost or run twice, each charged at its backend's price", async () => {
    const total = 240;
    const { spool, cheap, dear, sdk } = await startTwoBackends("killed", store, { cheap: { concurrency: 4, latencyMs: 20 }, dear: { concurrency: 8, latencyMs: 5 } });
    const input = await sdk.files.create({ file: await toFile(Buffer.from(chatFile(total, { model: "gpt-multi" })), "killed.jsonl"), purpose: "batch" });
    const batch = await sdk.batches.create({ input_file_id: input.id, endpoint: "/v1/chat/completions", completion_window: "24h" });
    await waitFor(async () => ((await sdk.batches.retrieve(batch.id)).request_counts?.completed ?? 0) >= 40, { what: "40 Items done" });
    // Nothing pressing: so far the cheap backend ran everything.
    expect(dear.requests).toBe(0);
    await cheap.close();

    const done = await waitFor(async () => {
      const current = await sdk.batches.retrieve(batch.id);
      return current.status === "completed" ? current : undefined;
    }, { what: "the batch completed", timeoutMs: 60_000 });
    expect(done.request_counts).toMatchObject({ total, completed: total, failed: 0 });
    const lines = await resultLines(sdk, done.output_file_id!);
    expect(lines).toHaveLength(total);
    expect(new Set(lines.map((line) => line.custom_id)).size).toBe(total);
    for (const line of lines) expect(line.response?.body.choices[0]?.message.content).toBe(`echo: prompt ${line.custom_id.slice("req-".length)}`);
    // The dear backend never fails here: each Item it received, it answered, and was recorded, once.
    const byDear = new Set(dear.countsByKey.keys());
    for (const count of dear.countsByKey.values()) expect(count).toBe(1);
    expect(byDear.size).toBeGreaterThan(0);
    expect(byDear.size).toBeLessThan(total);

    const expected = lines.reduce(
      (sum, line) => {
        const usage = line.response!.body.usage;
        const dearOne = byDear.has(`prompt ${line.custom_id.slice("req-".length)}`);
        const price = dearOne ? DEAR : CHEAP;
        const list = (usage.prompt_tokens * price.input + usage.completion_tokens * price.output) / 1e6;
        return { spent: sum.spent + list * (dearOne ? 1 - DEAR.batchDiscount : 1), list: sum.list + list };
      },
      { spent: 0, list: 0 },
    );
    const progress = (await (await fetch(`${spool.url}/v1/batches/${batch.id}/progress`)).json()) as Progress;
    expect(progress.cost?.spent).toBeCloseTo(expected.spent, 6);
    expect(progress.cost?.sync_equivalent).toBeCloseTo(expected.list, 6);
    // The breaker opened on the dead backend: the dear one took the rest without a request per Item to it.
    const models = (await (await fetch(`${spool.url}/dashboard/api/models`)).json()) as { models: { backends: { name: string; breaker: string; faults: number }[] }[] };
    const backends = models.models[0]?.backends ?? [];
    expect(backends.map((backend) => backend.name)).toEqual(["cheap", "dear"]);
    expect(backends[0]).toMatchObject({ breaker: "open" });
    expect(backends[0]?.faults).toBeGreaterThanOrEqual(3);
    expect(backends[0]?.faults).toBeLessThan(20);
    const scrape = await scrapeMetrics(spool.url);
    expect(scrape.value("spool_backend_breaker_open", { model: "gpt-multi", backend: "cheap" })).toBe(1);
    expect(scrape.value("spool_backend_breaker_open", { model: "gpt-multi", backend: "dear" })).toBe(0);
    expect(scrape.value("spool_backend_concurrency_limit", { model: "gpt-multi", backend: "dear" })).toBe(8);
  }, 90_000);

  it("meets a deadline the cheap backend alone would miss, using the dear one only partly", async () => {
    // Cheap: 2 at 100 ms = 20 Items/s; dear: 8 at 20 ms = 400 Items/s. 200 Items in an 8 s window: the
    // cheap one alone needs 10 s; the greedy plan gives it ~150 (aiming a second early) and the dear one ~50.
    // The cheap one's pace on a loaded machine is lower, hence the loose bound on its part.
    const total = 200;
    const { sdk, cheap, dear } = await startTwoBackends("deadline", store, { cheap: { concurrency: 2, latencyMs: 100 }, dear: { concurrency: 8, latencyMs: 20 } });
    const input = await sdk.files.create({ file: await toFile(Buffer.from(chatFile(total, { model: "gpt-multi" })), "deadline.jsonl"), purpose: "batch" });
    const batch = await sdk.batches.create({ input_file_id: input.id, endpoint: "/v1/chat/completions", completion_window: "8s" as "24h" });
    const done = await waitFor(async () => {
      const current = await sdk.batches.retrieve(batch.id);
      return ["completed", "expired", "failed"].includes(current.status) ? current : undefined;
    }, { what: "the batch ended", timeoutMs: 30_000 });
    expect(done.status).toBe("completed");
    expect(done.request_counts).toMatchObject({ total, completed: total, failed: 0 });
    // Completed, not expired: every Item had its result before the window closed (finalizing may end later).
    const byDear = dear.countsByKey.size;
    const byCheap = total - byDear;
    expect(cheap.requests).toBe(byCheap);
    // Spilled, but only partly: all-dear would be 160, cheap-only would miss the window.
    expect(byDear).toBeGreaterThan(0);
    expect(byCheap).toBeGreaterThan(total * 0.4);
  }, 60_000);
});
