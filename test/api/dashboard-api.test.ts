/**
 * The dashboard's JSON API without a browser: what the page, `spool watch` and `spool batches` read.
 * Paging, filters, a Batch's detail, timeline, failures by code, results paged and searched, Gemini names,
 * the public page behind an API key, signed download links, and bad input answered in the dashboard's
 * envelope naming the parameter.
 */
import { GoogleGenAI } from "@google/genai";
import OpenAI, { toFile } from "openai";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { chatFile, chatLine } from "../helpers/batch-files.ts";
import { startFakeOpenAIUpstream, type FakeOpenAIUpstream } from "../helpers/fake-openai-upstream.ts";
import { startTestApp, type TestApp } from "../helpers/spool-app.ts";
import { waitFor } from "../helpers/wait-for.ts";

const KEY = "sk-dash-api";
let upstream: FakeOpenAIUpstream;
let spool: TestApp;
let client: OpenAI;
let releaseHeld: () => void = () => undefined;
const held = new Promise<void>((resolve) => (releaseHeld = resolve));

beforeAll(async () => {
  // Reports cached_tokens as vLLM with prefix caching does, for the models page's cache-hit share.
  upstream = await startFakeOpenAIUpstream({ prefixCache: true });
  upstream.setFault(({ key }) => (key.startsWith("reject") ? { status: 400 } : key.startsWith("timeout") ? { status: 504 } : key.startsWith("held") ? { until: held } : undefined));
  spool = await startTestApp({ apiKeys: [KEY], models: [{ name: "gpt-test", engine: "openai", baseUrl: upstream.url, maxRetries: 0 }], worker: { sweepMs: 100 } }, { label: "dashboard-api" });
  client = new OpenAI({ apiKey: KEY, baseURL: spool.openaiBaseUrl, maxRetries: 0 });
});

afterAll(async () => {
  releaseHeld();
  await spool?.stop();
  await upstream?.close();
});

async function get(path: string, key: string | null = KEY): Promise<{ status: number; body: Record<string, unknown> & { error?: { code: string; message: string; param: string | null; requestId: string } } }> {
  const response = await fetch(`${spool.url}/dashboard/api${path}`, { headers: key ? { authorization: `Bearer ${key}` } : {} });
  return { status: response.status, body: (await response.json()) as Record<string, unknown> };
}

async function finishedBatch(content: string) {
  const file = await client.files.create({ file: await toFile(Buffer.from(content), "batch.jsonl"), purpose: "batch" });
  const created = await client.batches.create({ input_file_id: file.id, endpoint: "/v1/chat/completions", completion_window: "24h" });
  return waitFor(async () => {
    const batch = await client.batches.retrieve(created.id);
    return batch.status === "completed" ? batch : undefined;
  }, { what: "the batch to complete" });
}

describe("dashboard API", () => {
  it("serves the page and its assets without a key, redirects / to it, and answers the API only with a key", async () => {
    const root = await fetch(`${spool.url}/`, { redirect: "manual" });
    expect(root.status).toBe(302);
    expect(root.headers.get("location")).toBe("/dashboard/");
    const page = await fetch(`${spool.url}/dashboard/`);
    expect(page.status).toBe(200);
    expect(page.headers.get("content-type")).toContain("text/html");
    const html = await page.text();
    expect(html).toContain('src="/dashboard/assets/app.js"');
    expect(html).not.toMatch(/https?:\/\//); // nothing from the internet
    const script = await fetch(`${spool.url}/dashboard/assets/app.js`);
    expect(script.headers.get("content-type")).toContain("javascript");
    expect((await fetch(`${spool.url}/dashboard/assets/app.js`, { headers: { "if-none-match": script.headers.get("etag") ?? "" } })).status).toBe(304);
    const denied = await get("/batches", null);
    expect(denied.status).toBe(401);
    expect(denied.body.error).toMatchObject({ code: "unauthenticated", requestId: expect.stringMatching(/^req_/) });
    expect((await get("/batches", "sk-wrong")).status).toBe(401);
  });

  it("shows a batch's counts, timeline, failures grouped by code and results paged and searchable", async () => {
    const lines = [...chatFile(30).trim().split("\n"), chatLine("reject-a", "reject 1"), chatLine("reject-b", "reject 2"), chatLine("slow-a", "timeout 1")];
    const batch = await finishedBatch(`${lines.join("\n")}\n`);
    const detail = await get(`/batches/${batch.id}`);
    expect(detail.body.batch).toMatchObject({ id: batch.id, publicId: batch.id, status: "completed", terminal: true, counts: { total: 33, succeeded: 30, failed: 3, running: 0, pending: 0 }, files: { output: batch.output_file_id, error: batch.error_file_id } });

    const timeline = (await get(`/batches/${batch.id}/timeline`)).body as { buckets: { succeeded: number; failed: number; inputTokens: number }[] };
    expect(timeline.buckets.reduce((sum, bucket) => sum + bucket.succeeded, 0)).toBe(30);
    expect(timeline.buckets.reduce((sum, bucket) => sum + bucket.failed, 0)).toBe(3);
    expect(timeline.buckets.reduce((sum, bucket) => sum + bucket.inputTokens, 0)).toBe(batch.usage?.input_tokens);

    const failures = (await get(`/batches/${batch.id}/failures`)).body as { groups: { code: string; count: number; samples: { line: number; clientId: string }[] }[] };
    expect(failures.groups.map((group) => [group.code, group.count, group.samples.map((sample) => [sample.line, sample.clientId])])).toEqual([
      ["http_400", 2, [[31, "reject-a"], [32, "reject-b"]]],
      ["http_504", 1, [[33, "slow-a"]]],
    ]);

    const first = (await get(`/batches/${batch.id}/results?limit=20`)).body as { items: { line: number }[]; next: number };
    const second = (await get(`/batches/${batch.id}/results?limit=20&after=${first.next}`)).body as { items: { line: number }[]; next: number | null };
    expect([...first.items, ...second.items].map((item) => item.line)).toEqual(Array.from({ length: 33 }, (_, i) => i + 1));
    expect(second.next).toBeNull();
    const search = (await get(`/batches/${batch.id}/results?q=req-2`)).body as { items: { clientId: string }[] };
    expect(search.items.map((item) => item.clientId)).toEqual(["req-2", ...Array.from({ length: 10 }, (_, i) => `req-2${i}`)]);
    const failedOnly = (await get(`/batches/${batch.id}/results?status=failed`)).body as { items: { clientId: string; errorCode: string; message: string | null }[] };
    expect(failedOnly.items.map((item) => [item.clientId, item.errorCode])).toEqual([["reject-a", "http_400"], ["reject-b", "http_400"], ["slow-a", "http_504"]]);
  });

  it("shows a running batch's priority, its share of the model and what the scheduler expects of it", async () => {
    const file = await client.files.create({ file: await toFile(Buffer.from(`${chatLine("held-1", "held 1")}\n${chatLine("held-2", "held 2")}\n`), "held.jsonl"), purpose: "batch" });
    const created = await client.batches.create({ input_file_id: file.id, endpoint: "/v1/chat/completions", completion_window: "2h" as "24h", metadata: { priority: "4" } });
    const running = await waitFor(async () => {
      const view = (await get(`/batches/${created.id}`)).body.batch as { status: string; counts: { running: number } } & Record<string, unknown>;
      return view.status === "in_progress" && view.counts.running === 2 ? view : undefined;
    }, { what: "the batch to run" });
    // Alone on its model: all of it. Its ETA comes from the model's measured throughput, when earlier
    // batches left one, and two requests fit in a 2 h window whatever it is.
    expect(running).toMatchObject({ priority: 4, share: 1, heldUntilMs: null });
    expect(Math.floor((running.expiresAtMs as number) / 1000)).toBe(created.expires_at);
    expect(running.meetsWindow).toBe(running.etaMs === null ? null : true);
    releaseHeld();
    await waitFor(async () => (await client.batches.retrieve(created.id)).status === "completed", { what: "the batch to complete" });
    expect((await get(`/batches/${created.id}`)).body.batch).toMatchObject({ priority: 4, share: null, etaMs: null, meetsWindow: null });
  });

  it("gives each model's share of input tokens the upstream took from its prefix cache over the last minute", async () => {
    const system = "You answer questions about invoices, briefly. ".repeat(8);
    const lines = Array.from({ length: 5 }, (_, i) => chatLine(`share-${i}`, `invoice ${i}`, "gpt-test", { messages: [{ role: "system", content: system }, { role: "user", content: `invoice ${i}` }] }));
    await finishedBatch(`${lines.join("\n")}\n`);
    const { models } = (await get("/models")).body as unknown as { models: Array<{ name: string; cachedInputShare: number | null }> };
    const share = models.find((model) => model.name === "gpt-test")?.cachedInputShare;
    // Four of the five requests had their system prompt cached; earlier tests' requests had none to cache.
    expect(share).toBeGreaterThan(0);
    expect(share).toBeLessThan(1);
  });

  it("pages and filters the batch list, and finds a Gemini batch by its name", async () => {
    const ai = new GoogleGenAI({ apiKey: KEY, httpOptions: { baseUrl: spool.url } });
    const job = await ai.batches.create({ model: "gpt-test", src: [{ contents: "hello" }] });
    await waitFor(async () => (await get(`/batches/${encodeURIComponent(job.name ?? "")}`)).body.batch && ((await get(`/batches/${encodeURIComponent(job.name ?? "")}`)).body.batch as { terminal: boolean }).terminal, { what: "the Gemini batch to end" });
    const gemini = (await get(`/batches/${encodeURIComponent(job.name ?? "")}`)).body.batch as { publicId: string; dialect: string; id: string };
    expect(gemini).toMatchObject({ publicId: job.name, dialect: "gemini" });

    const all = (await get("/batches?limit=1")).body as { batches: { id: string }[]; hasMore: boolean; next: string };
    expect(all.batches.map((batch) => batch.id)).toEqual([gemini.id]);
    expect(all.hasMore).toBe(true);
    const older = (await get(`/batches?limit=1&after=${all.next}`)).body as { batches: { id: string }[] };
    expect(older.batches[0]?.id).not.toBe(gemini.id);
    const openaiOnly = (await get("/batches?dialect=openai")).body as { batches: { dialect: string }[] };
    expect(openaiOnly.batches.length).toBeGreaterThan(0);
    expect(openaiOnly.batches.every((batch) => batch.dialect === "openai")).toBe(true);
    const none = (await get("/batches?status=failed,expired")).body as { batches: unknown[] };
    expect(none.batches).toEqual([]);
    const overview = (await get("/overview")).body as { counts: Record<string, number>; models: string[] };
    expect(overview.counts.completed).toBeGreaterThanOrEqual(2);
    expect(overview.models).toEqual(["gpt-test"]);
  });

  it("downloads a file through a signed link only while it is valid", async () => {
    const batch = await finishedBatch(chatFile(2));
    const response = await fetch(`${spool.url}/dashboard/api/files/${batch.output_file_id}/link`, { method: "POST", headers: { authorization: `Bearer ${KEY}` } });
    const link = (await response.json()) as { url: string; filename: string };
    expect(link.url).not.toContain(KEY);
    const file = await fetch(`${spool.url}${link.url}`);
    expect(file.status).toBe(200);
    expect(file.headers.get("content-disposition")).toMatch(/^attachment; filename="/);
    expect((await file.text()).trim().split("\n")).toHaveLength(2);
    const forged = new URL(link.url, spool.url);
    forged.searchParams.set("signature", "0".repeat(64));
    expect((await fetch(forged)).status).toBe(401);
    const expired = new URL(link.url, spool.url);
    expired.searchParams.set("expires", "1000");
    expect((await fetch(expired)).status).toBe(401);
  });

  it("answers bad input in its envelope, naming the parameter", async () => {
    const cases: [string, number, string | null][] = [
      ["/batches?limit=0", 400, "limit"],
      ["/batches?limit=abc", 400, "limit"],
      ["/batches?status=bogus", 400, "status"],
      ["/batches?dialect=klingon", 400, "dialect"],
      ["/batches/batch_missing", 404, "id"],
      ["/batches/batch_missing/results?after=x", 404, "id"],
      [`/batches/${"x".repeat(5000)}`, 404, "id"],
      ["/batches/%00", 404, "id"],
      ["/webhooks?before=-3", 400, "before"],
      ["/nothing-here", 404, null],
    ];
    for (const [path, status, param] of cases) {
      const answer = await get(path);
      expect([path, answer.status]).toEqual([path, status]);
      expect(answer.body.error?.param ?? null).toBe(param);
      expect(answer.body.error?.message.length).toBeGreaterThan(5);
    }
  });
});
