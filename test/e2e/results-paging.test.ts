/**
 * `GET /v1/batches/{id}/results` paging (issue 17): `limit`, and `after` = the custom_id of the last line
 * received, so a client polling a running batch downloads only new lines. Pages stop at the first request
 * not finished yet, so a result that finishes later than the ones after it is never skipped.
 */
import OpenAI, { toFile } from "openai";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { chatLine } from "../helpers/batch-files.ts";
import { startFakeOpenAIUpstream, type FakeOpenAIUpstream } from "../helpers/fake-openai-upstream.ts";
import { startTestApp, type TestApp } from "../helpers/spool-app.ts";
import { waitFor } from "../helpers/wait-for.ts";

let upstream: FakeOpenAIUpstream;
let spool: TestApp;
let client: OpenAI;

beforeAll(async () => {
  upstream = await startFakeOpenAIUpstream();
  upstream.setFault(({ key }) => (key === "slow" ? { delayMs: 1500 } : key === "reject" ? { status: 422 } : undefined));
  spool = await startTestApp({ models: [{ name: "gpt-test", engine: "openai", baseUrl: upstream.url, concurrency: 8, maxRetries: 0 }], worker: { sweepMs: 100 } }, { label: "results-paging" });
  client = new OpenAI({ apiKey: "sk-test", baseURL: spool.openaiBaseUrl, maxRetries: 0 });
});

afterAll(async () => {
  await spool?.stop();
  await upstream?.close();
});

async function page(batchId: string, query: string): Promise<{ status: number; ids: string[]; body: string }> {
  const response = await fetch(`${spool.openaiBaseUrl}/batches/${batchId}/results?${query}`, { headers: { authorization: "Bearer sk-test" } });
  const body = await response.text();
  const ids = response.ok ? body.split("\n").filter(Boolean).map((line) => (JSON.parse(line) as { custom_id: string }).custom_id) : [];
  return { status: response.status, ids, body };
}

describe("results paging", () => {
  it("pages by limit and after, stops at the first unfinished request, and names a bad after", async () => {
    const lines = [chatLine("k-0", "slow"), chatLine("k-1", "fine"), chatLine("k-2", "reject"), chatLine("k-3", "fine"), chatLine("k-4", "fine"), chatLine("k-5", "fine")];
    const file = await client.files.create({ file: await toFile(Buffer.from(lines.join("\n")), "paging.jsonl"), purpose: "batch" });
    const batch = await client.batches.create({ input_file_id: file.id, endpoint: "/v1/chat/completions", completion_window: "24h" });
    await waitFor(async () => {
      const counts = (await client.batches.retrieve(batch.id)).request_counts;
      return (counts?.completed ?? 0) + (counts?.failed ?? 0) >= 5;
    }, { what: "all but the slow request to finish" });

    // k-0 still runs: paged reads wait for it (everything after it is finished but not yet due) ...
    expect((await page(batch.id, "limit=100")).ids).toEqual([]);
    // ... while the unpaged read still returns all finished lines.
    const all = await page(batch.id, "");
    expect(all.ids, `${all.status} ${all.body}`).toEqual(["k-1", "k-2", "k-3", "k-4", "k-5"]);

    await waitFor(async () => (await client.batches.retrieve(batch.id)).status === "completed", { what: "the batch to complete" });
    expect((await page(batch.id, "limit=2")).ids).toEqual(["k-0", "k-1"]);
    const second = await page(batch.id, "limit=2&after=k-1");
    expect(second.ids).toEqual(["k-2", "k-3"]);
    expect((JSON.parse(second.body.split("\n")[0] ?? "") as { error: unknown; response: { status_code: number } }).response.status_code).toBe(422);
    expect((await page(batch.id, "after=k-3")).ids).toEqual(["k-4", "k-5"]);
    expect((await page(batch.id, "after=k-5")).ids).toEqual([]);

    const unknown = await page(batch.id, "after=k-9");
    expect(unknown.status).toBe(400);
    expect(JSON.parse(unknown.body)).toMatchObject({ error: { param: "after", message: expect.stringContaining("'k-9'") } });
    expect((await page(batch.id, "limit=0")).status).toBe(400);
  });
});
