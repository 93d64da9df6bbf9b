/**
 * Cancelling a Batch stops paid work (issue 15): once `batches.cancel` has answered, no request of the
 * Batch reaches the upstream any more, although the Worker had claimed Items ahead (twice the Model's
 * concurrency). Running requests are aborted by default, or left to finish with `worker.cancelRunning:
 * finish`; either way every Item ends with a result, the unrun ones `batch_cancelled`.
 */
import OpenAI, { toFile } from "openai";
import { afterEach, describe, expect, it } from "vitest";
import { chatFile, chatLine } from "../helpers/batch-files.ts";
import { validationUnderWay } from "../helpers/openai-batch-run.ts";
import { startFakeOpenAIUpstream, type FakeOpenAIUpstream } from "../helpers/fake-openai-upstream.ts";
import { startTestApp, type TestApp } from "../helpers/spool-app.ts";
import { waitFor } from "../helpers/wait-for.ts";

let upstream: FakeOpenAIUpstream | undefined;
let spool: TestApp | undefined;

afterEach(async () => {
  await spool?.stop();
  await upstream?.close();
  spool = undefined;
  upstream = undefined;
});

async function start(cancelRunning: "abort" | "finish") {
  upstream = await startFakeOpenAIUpstream({ latencyMs: 300 });
  spool = await startTestApp(
    { models: [{ name: "gpt-test", engine: "openai", baseUrl: upstream.url, concurrency: 2, maxRetries: 0 }], worker: { sweepMs: 50, cancelRunning } },
    { label: `cancel-${cancelRunning}` },
  );
  const client = new OpenAI({ apiKey: "k", baseURL: spool.openaiBaseUrl, maxRetries: 0 });
  const content = Array.from({ length: 20 }, (_, i) => chatLine(`c-${i}`, `cancel ${i}`)).join("\n");
  const file = await client.files.create({ file: await toFile(Buffer.from(content), "in.jsonl"), purpose: "batch" });
  const batch = await client.batches.create({ input_file_id: file.id, endpoint: "/v1/chat/completions", completion_window: "24h" });
  // Two running, two more claimed and queued in the Dispatcher.
  await waitFor(() => upstream!.inFlight === 2, { what: "two requests in flight" });
  return { client, batch, upstream: upstream! };
}

async function finished(client: OpenAI, id: string) {
  return waitFor(async () => {
    const current = await client.batches.retrieve(id);
    return current.status === "cancelled" ? current : undefined;
  }, { what: "the batch to be cancelled" });
}

async function errorCodes(client: OpenAI, fileId: string | null | undefined): Promise<string[]> {
  if (!fileId) return [];
  const text = await (await client.files.content(fileId)).text();
  return text.trim().split("\n").map((line) => (JSON.parse(line) as { error: { code: string } }).error.code);
}

describe("cancel stops paid work", () => {
  it("aborts the running requests and starts none of the claimed ones after the cancel answered", async () => {
    const { client, batch, upstream } = await start("abort");
    const cancelling = await client.batches.cancel(batch.id);
    const sentAtCancel = upstream.requests;
    expect(["cancelling", "cancelled"]).toContain(cancelling.status);
    await waitFor(() => upstream.inFlight === 0, { what: "the running requests to be aborted", timeoutMs: 2_000 });
    const done = await finished(client, batch.id);
    // Longer than one upstream answer: a claimed Item that started anyway would have arrived by now.
    await new Promise((resolve) => setTimeout(resolve, 400));
    expect(upstream.requests).toBe(sentAtCancel);
    expect(done.request_counts?.completed).toBe(0);
    expect(done.request_counts?.failed).toBe(20);
    const codes = await errorCodes(client, done.error_file_id);
    expect(codes).toHaveLength(20);
    expect(new Set(codes)).toEqual(new Set(["batch_cancelled"]));
  });

  it("with cancelRunning: finish, lets the running requests finish and keeps their results", async () => {
    const { client, batch, upstream } = await start("finish");
    await client.batches.cancel(batch.id);
    const sentAtCancel = upstream.requests;
    const done = await finished(client, batch.id);
    await new Promise((resolve) => setTimeout(resolve, 400));
    expect(upstream.requests).toBe(sentAtCancel);
    expect(done.request_counts?.completed).toBe(2);
    expect(done.request_counts?.failed).toBe(18);
    expect(new Set(await errorCodes(client, done.error_file_id))).toEqual(new Set(["batch_cancelled"]));
  });
});

describe("cancel during validation", () => {
  it("stops reading the input at the next chunk: the Batch ends cancelled with no Items", async () => {
    upstream = await startFakeOpenAIUpstream();
    spool = await startTestApp({ models: [{ name: "gpt-test", engine: "openai", baseUrl: upstream.url, concurrency: 2 }], worker: { sweepMs: 50 } }, { label: "cancel-validating" });
    const client = new OpenAI({ apiKey: "k", baseURL: spool.openaiBaseUrl, maxRetries: 0 });
    const lines = 200_000;
    const file = await client.files.create({ file: await toFile(Buffer.from(chatFile(lines)), "big.jsonl"), purpose: "batch" });
    const batch = await client.batches.create({ input_file_id: file.id, endpoint: "/v1/chat/completions", completion_window: "24h" });
    // Chunks are going in (each counts in `total` as it is written): the validation is under way.
    const validating = await validationUnderWay(client, batch.id);
    expect(validating.request_counts?.total).toBeLessThan(lines);
    await client.batches.cancel(batch.id);
    const done = await finished(client, batch.id);
    // Read to the end, every line would have become a cancelled Item.
    expect(done.request_counts).toEqual({ total: 0, completed: 0, failed: 0 });
    expect(done.output_file_id ?? null).toBeNull();
    expect(upstream.requests).toBe(0);
  });
});
