/**
 * Scheduling across Batches end to end (issue 12), through the real `openai` SDK against a real spool
 * (SQLite, Workers, Sweeper) running on the fake upstream: a small Batch created while a large one runs
 * on the same Model finishes long before it; the progress extension tells priority, deadline, share and
 * the forecast finish; a Model's batch hours hold Batch traffic (not sync traffic) until they open.
 */
import OpenAI, { toFile } from "openai";
import { afterEach, describe, expect, it } from "vitest";
import { ManualClock } from "../../src/core/clock.ts";
import { chatLine } from "../helpers/batch-files.ts";
import { startFakeOpenAIUpstream, type FakeOpenAIUpstream } from "../helpers/fake-openai-upstream.ts";
import { startTestApp, type TestApp } from "../helpers/spool-app.ts";
import { waitFor } from "../helpers/wait-for.ts";

interface Progress {
  status: string;
  request_counts: { total: number; pending: number; succeeded: number };
  eta_seconds: number | null;
  schedule: { priority: number; deadline_at: number; estimated_completion_at: number | null; meets_deadline: boolean | null; share: number | null; waiting_until: number | null };
}

const closers: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const close of closers.splice(0).reverse()) await close();
});

async function start(options: { latencyMs: number; schedule?: { batchHours: string }; clock?: ManualClock }): Promise<{ client: OpenAI; spool: TestApp; upstream: FakeOpenAIUpstream }> {
  const upstream = await startFakeOpenAIUpstream({ latencyMs: options.latencyMs });
  closers.push(() => upstream.close());
  const spool = await startTestApp(
    { models: [{ name: "gpt-test", engine: "openai", baseUrl: upstream.url, concurrency: 8, maxRetries: 0, schedule: options.schedule }], worker: { sweepMs: 50, pollMs: 50 } },
    { label: "fair-share", clock: options.clock },
  );
  closers.push(() => spool.stop());
  return { client: new OpenAI({ apiKey: "sk-test", baseURL: spool.openaiBaseUrl, maxRetries: 0 }), spool, upstream };
}

async function createBatch(client: OpenAI, prefix: string, count: number, extra: { metadata?: Record<string, string> } = {}): Promise<OpenAI.Batches.Batch> {
  const lines = Array.from({ length: count }, (_, i) => chatLine(`${prefix}-${i}`, `${prefix} ${i}`));
  const file = await client.files.create({ file: await toFile(Buffer.from(lines.join("\n")), `${prefix}.jsonl`), purpose: "batch" });
  return client.batches.create({ input_file_id: file.id, endpoint: "/v1/chat/completions", completion_window: "24h", ...extra });
}

const progressOf = (client: OpenAI, id: string): Promise<Progress> => client.get<Progress>(`/batches/${id}/progress`);

describe("fair share across batches", () => {
  it("finishes a 10-request batch created while a large one runs long before the large one, and forecasts both", async () => {
    // 8 at a time, 10 ms each: about 800 requests a second, so the large batch needs about 5 s.
    const { client } = await start({ latencyMs: 10 });
    const large = await createBatch(client, "large", 4_000);
    await waitFor(async () => (await progressOf(client, large.id)).request_counts.succeeded >= 400, { what: "the large batch to be well under way", timeoutMs: 30_000 });
    // The Workers have measured the Model by now: the large batch has a forecast inside its window.
    const forecast = await waitFor(async () => {
      const progress = await progressOf(client, large.id);
      return progress.schedule.estimated_completion_at !== null ? progress : undefined;
    }, { what: "a forecast for the large batch" });
    expect(forecast.schedule).toMatchObject({ priority: 0, deadline_at: large.expires_at, meets_deadline: true, waiting_until: null, share: 1 });
    expect(forecast.eta_seconds).toBeGreaterThan(0);
    expect(forecast.eta_seconds).toBeLessThan(60);

    const small = await createBatch(client, "small", 10, { metadata: { priority: "0" } });
    // Validated or not yet, it has a forecast from the moment it exists: first in line, done in seconds.
    const smallAtCreate = await progressOf(client, small.id);
    expect(smallAtCreate.schedule.estimated_completion_at).not.toBeNull();
    expect(smallAtCreate.eta_seconds).toBeLessThan(5);
    expect(smallAtCreate.schedule.share).toBeGreaterThan(0.7);
    const smallDone = await waitFor(async () => {
      const batch = await client.batches.retrieve(small.id);
      return batch.status === "completed" ? batch : undefined;
    }, { what: "the small batch to complete", timeoutMs: 30_000 });
    const largeThen = await progressOf(client, large.id);
    expect(smallDone.request_counts).toEqual({ total: 10, completed: 10, failed: 0 });
    // Under first-come-first-served the small batch would wait for all 4,000; here more than half remain.
    expect(largeThen.status).toBe("in_progress");
    expect(largeThen.request_counts.pending).toBeGreaterThan(2_000);
  });
});

describe("batch hours", () => {
  it("holds a batch until the model's batch hours open, tells when, and keeps answering sync requests", async () => {
    const clock = new ManualClock(Date.UTC(2026, 0, 5, 12));
    const { client, upstream } = await start({ latencyMs: 0, schedule: { batchHours: "16:30-00:30 UTC" }, clock });
    const batch = await createBatch(client, "night", 5, { metadata: { priority: "2" } });
    const opensAt = Date.UTC(2026, 0, 5, 16, 30) / 1000;
    const held = await waitFor(async () => {
      const progress = await progressOf(client, batch.id);
      return progress.status === "in_progress" && progress.schedule.waiting_until !== null ? progress : undefined;
    }, { what: "the batch to be validated and held" });
    expect(held.schedule).toMatchObject({ priority: 2, waiting_until: opensAt, share: 0 });

    const sync = await client.chat.completions.create({ model: "gpt-test", messages: [{ role: "user", content: "now please" }] });
    expect(sync.choices[0]?.message.content).toBe("echo: now please");
    expect((await progressOf(client, batch.id)).request_counts.succeeded).toBe(0);
    expect([...upstream.countsByKey.keys()]).toEqual(["now please"]);

    clock.set(Date.UTC(2026, 0, 5, 16, 31));
    const done = await waitFor(async () => {
      const current = await client.batches.retrieve(batch.id);
      return current.status === "completed" ? current : undefined;
    }, { what: "the batch to run once the window opened" });
    expect(done.request_counts).toEqual({ total: 5, completed: 5, failed: 0 });
  });
});
