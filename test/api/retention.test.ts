/**
 * Retention of ended Batches (config `retention.batchResults`, migration 020) through the real SDKs of the
 * three dialects, on one spool whose clock the test moves forward: past the retention period each Batch is
 * archived (Anthropic's `archived_at`), its results are gone to every reader in its dialect's error shape
 * (or left out of a Gemini operation), its failed requests cannot be retried, its result Files still
 * download, and past the grace period its Items are deleted. A Batch younger than the retention keeps all.
 */
import Anthropic, { NotFoundError } from "@anthropic-ai/sdk";
import { GoogleGenAI, type BatchJob } from "@google/genai";
import OpenAI, { toFile } from "openai";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { BatchView } from "../../src/api/dashboard/views.ts";
import { batchTable } from "../../src/cli/batches.ts";
import type { Clock } from "../../src/core/clock.ts";
import { PURGE_GRACE_MS } from "../../src/worker/result-retention.ts";
import { hasChromium, launchBrowser, screenshotPath } from "../helpers/browser.ts";
import { startFakeOpenAIUpstream, type FakeOpenAIUpstream } from "../helpers/fake-openai-upstream.ts";
import { startTestApp, type TestApp } from "../helpers/spool-app.ts";
import { waitFor } from "../helpers/wait-for.ts";

const DAY_MS = 86_400_000;
/** The test's clock runs with the wall clock, `offsetMs` ahead of it. */
let offsetMs = 0;
const clock: Clock = { now: () => Date.now() + offsetMs };

let upstream: FakeOpenAIUpstream;
let spool: TestApp;
let openai: OpenAI;
let anthropic: Anthropic;
let gemini: GoogleGenAI;

beforeAll(async () => {
  upstream = await startFakeOpenAIUpstream();
  spool = await startTestApp(
    {
      models: [{ name: "gpt-test", engine: "openai", baseUrl: upstream.url, concurrency: 4, maxRetries: 0 }],
      worker: { leaseMs: 5_000, sweepMs: 50, pollMs: 50 },
      retention: { batchResults: "20d" },
    },
    { label: "retention", clock },
  );
  openai = new OpenAI({ apiKey: "sk-test", baseURL: spool.openaiBaseUrl, maxRetries: 0 });
  anthropic = new Anthropic({ apiKey: "sk-ant-test", baseURL: spool.url, maxRetries: 0 });
  gemini = new GoogleGenAI({ apiKey: "g-test", httpOptions: { baseUrl: spool.url } });
});

afterAll(async () => {
  await spool?.stop();
  await upstream?.close();
});

const chatLine = (id: string): string => JSON.stringify({ custom_id: id, method: "POST", url: "/v1/chat/completions", body: { model: "gpt-test", messages: [{ role: "user", content: `hello ${id}` }] } });

async function openaiBatch(): Promise<OpenAI.Batch> {
  const file = await openai.files.create({ file: await toFile(Buffer.from(`${chatLine("a")}\n${chatLine("b")}\n`), "in.jsonl"), purpose: "batch" });
  const created = await openai.batches.create({ input_file_id: file.id, endpoint: "/v1/chat/completions", completion_window: "24h" });
  return waitFor(async () => {
    const batch = await openai.batches.retrieve(created.id);
    return batch.status === "completed" ? batch : undefined;
  }, { what: "the OpenAI batch to complete" });
}

async function anthropicBatch(): Promise<string> {
  const created = await anthropic.messages.batches.create({ requests: [{ custom_id: "only", params: { model: "gpt-test", max_tokens: 8, messages: [{ role: "user", content: "hi" }] } }] });
  await waitFor(async () => (await anthropic.messages.batches.retrieve(created.id)).processing_status === "ended", { what: "the Anthropic batch to end" });
  return created.id;
}

async function geminiInlineBatch(): Promise<BatchJob> {
  const created = await gemini.batches.create({ model: "gpt-test", src: [{ contents: "first" }, { contents: "second" }] });
  return waitFor(async () => {
    const job = await gemini.batches.get({ name: created.name ?? "" });
    return job.state === "JOB_STATE_SUCCEEDED" ? job : undefined;
  }, { what: "the Gemini batch to succeed" });
}

async function get(path: string, init: RequestInit = {}): Promise<{ status: number; body: Record<string, unknown> }> {
  const response = await fetch(`${spool.url}${path}`, { ...init, headers: { authorization: "Bearer sk-test", "content-type": "application/json", ...init.headers } });
  const text = await response.text();
  return { status: response.status, body: (text ? JSON.parse(text) : {}) as Record<string, unknown> };
}

describe("retention of ended batches", () => {
  it("archives batches past retention.batchResults in every dialect, keeps the young ones, then deletes their items", async () => {
    const old = { openai: await openaiBatch(), anthropic: await anthropicBatch(), gemini: await geminiInlineBatch() };
    expect(old.gemini.dest?.inlinedResponses).toHaveLength(2);
    expect((await anthropic.messages.batches.retrieve(old.anthropic)).archived_at).toBeNull();

    offsetMs = 15 * DAY_MS;
    const young = await openaiBatch();
    // 21 days after the first three were created; the young one is 6 days old.
    offsetMs = 21 * DAY_MS;
    const archived = await waitFor(async () => {
      const batch = await anthropic.messages.batches.retrieve(old.anthropic);
      return batch.archived_at !== null ? batch : undefined;
    }, { what: "the Anthropic batch to be archived" });
    expect(Date.parse(archived.archived_at ?? "")).toBeGreaterThanOrEqual(Date.parse(archived.created_at) + 20 * DAY_MS);
    expect(archived).toMatchObject({ processing_status: "ended", request_counts: { succeeded: 1 } });

    // Anthropic: the SDK's results() gets a NotFoundError that says why.
    const gone = await (async () => {
      for await (const line of await anthropic.messages.batches.results(old.anthropic)) return line;
      return null;
    })().catch((error: unknown) => error);
    expect(gone).toBeInstanceOf(NotFoundError);
    expect((gone as NotFoundError).message).toMatch(/no longer kept.*retention\.batchResults/);

    // OpenAI: the batch is as it was; its results extension answers 404 and a retry 409, in OpenAI's shape;
    // the output File still downloads.
    expect(await openai.batches.retrieve(old.openai.id)).toEqual(old.openai);
    const results = await get(`/v1/batches/${old.openai.id}/results`);
    expect(results.status).toBe(404);
    expect((results.body.error as { message: string }).message).toMatch(/archived on .*retention\.batchResults/);
    const retry = await get(`/v1/batches/${old.openai.id}/retry_failed`, { method: "POST", body: JSON.stringify({ all: true }) });
    expect(retry.status).toBe(409);
    expect((retry.body.error as { message: string }).message).toMatch(/deleted on .*retention\.batchResults/);
    expect((await (await openai.files.content(old.openai.output_file_id ?? "")).text()).trim().split("\n")).toHaveLength(2);

    // Gemini: the operation still answers, without the inline responses it no longer holds.
    const job = await gemini.batches.get({ name: old.gemini.name ?? "" });
    expect(job.state).toBe("JOB_STATE_SUCCEEDED");
    expect(job.dest?.inlinedResponses).toBeUndefined();

    // The dashboard shows it archived, with no results, and no retry.
    const detail = await get(`/dashboard/api/batches/${old.openai.id}`);
    expect((detail.body.batch as { archivedAtMs: number | null }).archivedAtMs).toEqual(expect.any(Number));
    expect((await get(`/dashboard/api/batches/${old.openai.id}/results`)).body).toEqual({ items: [], next: null });
    expect((await get(`/dashboard/api/batches/${old.openai.id}/failures`)).body).toEqual({ groups: [] });
    // `spool batches` says which are archived.
    const listed = (await get("/dashboard/api/batches?limit=10")).body as { batches: BatchView[] };
    const table = batchTable(listed.batches, clock.now()).split("\n");
    expect(table.find((line) => line.startsWith(old.openai.id))).toMatch(/ completed \(archived\) /);
    expect(table.find((line) => line.startsWith(young.id))).toMatch(/ completed {2,}\d/);
    if (hasChromium) {
      const browser = await launchBrowser();
      try {
        const page = await browser.newPage();
        await page.goto(`${spool.url}/dashboard/#/batches/${old.openai.id}`);
        await page.locator("[data-archived]").waitFor({ timeout: 15_000 });
        expect(await page.locator("[data-testid=archived]").textContent()).toMatch(/^Archived .*retention\.batchResults/);
        await page.screenshot({ path: screenshotPath("dashboard-batch-archived"), fullPage: true });
      } finally {
        await browser.close();
      }
    }

    // The young batch keeps everything.
    const kept = await fetch(`${spool.openaiBaseUrl}/batches/${young.id}/results`, { headers: { authorization: "Bearer sk-test" } });
    expect(kept.status).toBe(200);
    expect((await kept.text()).trim().split("\n")).toHaveLength(2);
    const store = spool.app.context.store;
    expect((await store.getBatch(young.id))?.archivedAtMs).toBeNull();

    // Past the grace period the archived batches' Items go; the young one's stay.
    const oldIds = [old.openai.id, old.anthropic, (old.gemini.name ?? "").replace(/^batches\//, "")];
    const stored = await Promise.all(oldIds.map((id) => store.getBatch(id)));
    expect(stored.map((batch) => batch?.archivedAtMs !== null)).toEqual([true, true, true]);
    expect((await store.readItems(old.openai.id, { afterIndex: -1, limit: 10 })).items).toHaveLength(2);
    offsetMs += PURGE_GRACE_MS + 61_000;
    await waitFor(async () => {
      const pages = await Promise.all(oldIds.map((id) => store.readItems(id, { afterIndex: -1, limit: 10 })));
      return pages.every((page) => page.items.length === 0);
    }, { what: "the archived batches' items to be deleted" });
    expect((await store.readItems(young.id, { afterIndex: -1, limit: 10 })).items).toHaveLength(2);

    // What the retention did, in the process's metrics: three Batches archived, their five Items deleted.
    const metrics = await (await fetch(`${spool.url}/metrics`)).text();
    expect(metrics).toMatch(/^spool_batches_archived_total 3$/m);
    expect(metrics).toMatch(/^spool_archived_items_deleted_total 5$/m);
  });
});
