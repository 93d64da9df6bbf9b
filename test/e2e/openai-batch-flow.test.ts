/**
 * The core user journey with the real `openai` SDK: upload a JSONL file, create a batch, watch it progress,
 * download the results — against a real spool (SQLite, workers) executing on an OpenAI-compatible upstream.
 */
import OpenAI, { toFile } from "openai";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startFakeOpenAIUpstream, type FakeOpenAIUpstream } from "../helpers/fake-openai-upstream.ts";
import { chatFile, chatLine } from "../helpers/batch-files.ts";
import { startTestApp, type TestApp } from "../helpers/spool-app.ts";
import { waitFor } from "../helpers/wait-for.ts";

let upstream: FakeOpenAIUpstream;
let spool: TestApp;
let client: OpenAI;

beforeAll(async () => {
  upstream = await startFakeOpenAIUpstream();
  spool = await startTestApp(
    {
      models: [
        { name: "gpt-test", engine: "openai", baseUrl: upstream.url, concurrency: 8, maxRetries: 3 },
        { name: "embed-test", engine: "openai", baseUrl: upstream.url, concurrency: 8 },
      ],
      worker: { leaseMs: 5_000, sweepMs: 100 },
    },
    { label: "openai-flow" },
  );
  client = new OpenAI({ apiKey: "sk-test", baseURL: spool.openaiBaseUrl, maxRetries: 0 });
});

afterAll(async () => {
  await spool?.stop();
  await upstream?.close();
});

async function runBatch(content: string, endpoint: "/v1/chat/completions" | "/v1/embeddings" = "/v1/chat/completions") {
  const file = await client.files.create({ file: await toFile(Buffer.from(content), "batch.jsonl"), purpose: "batch" });
  const created = await client.batches.create({ input_file_id: file.id, endpoint, completion_window: "24h", metadata: { job: "test" } });
  const done = await waitFor(async () => {
    const batch = await client.batches.retrieve(created.id);
    return ["completed", "failed", "expired", "cancelled"].includes(batch.status) ? batch : undefined;
  }, { what: `batch ${created.id} to finish` });
  return { file, created, done };
}

async function readLines(fileId: string | null | undefined): Promise<Record<string, unknown>[]> {
  if (!fileId) return [];
  const text = await (await client.files.content(fileId)).text();
  return text.trim().split("\n").map((line) => JSON.parse(line) as Record<string, unknown>);
}

describe("OpenAI batch flow through the openai SDK", () => {
  it("runs a chat batch to completed with one output line per request, in input order", async () => {
    const { created, done } = await runBatch(chatFile(50));
    expect(created.status).toBe("validating");
    expect(done.status).toBe("completed");
    expect(done.request_counts).toEqual({ total: 50, completed: 50, failed: 0 });
    expect(done.in_progress_at).toBeGreaterThanOrEqual(done.created_at);
    expect(done.completed_at).toBeGreaterThanOrEqual(done.in_progress_at ?? 0);
    expect(done.finalizing_at).not.toBeNull();
    expect(done.error_file_id).toBeNull();
    expect(done.metadata).toEqual({ job: "test" });
    const lines = await readLines(done.output_file_id);
    expect(lines.map((line) => line.custom_id)).toEqual(Array.from({ length: 50 }, (_, i) => `req-${i}`));
    const first = lines[0] as { response: { status_code: number; body: { choices: { message: { content: string } }[] } }; error: unknown };
    expect(first.response.status_code).toBe(200);
    expect(first.response.body.choices[0]?.message.content).toContain("prompt 0");
    expect(first.error).toBeNull();
    const output = await client.files.retrieve(done.output_file_id ?? "");
    expect(output.purpose).toBe("batch_output");
  });

  it("writes each reply into the output file as the upstream's own bytes (no re-serializing: big integers keep every digit)", async () => {
    // JSON.parse + JSON.stringify would turn 12345678901234567890 into 12345678901234567000.
    const raw = (text: string): string =>
      `{"id":"chatcmpl-raw","object":"chat.completion","seed":12345678901234567890,"choices":[{"index":0,"message":{"role":"assistant","content":${JSON.stringify(text)}},"finish_reason":"stop"}],"usage":{"prompt_tokens":7,"completion_tokens":3,"total_tokens":10}}`;
    upstream.setFault(({ key }) => (key.startsWith("raw ") ? { status: 200, rawBody: raw(key), contentType: "application/json" } : undefined));
    try {
      const { done } = await runBatch([chatLine("raw-1", "raw one"), chatLine("raw-2", "raw two")].join("\n"));
      expect(done.request_counts).toEqual({ total: 2, completed: 2, failed: 0 });
      const text = await (await client.files.content(done.output_file_id ?? "")).text();
      const lines = text.trim().split("\n");
      expect(lines.map((line) => line.includes(`"body":${raw(line.includes("raw-1") ? "raw one" : "raw two")}`))).toEqual([true, true]);
      expect(done.usage).toMatchObject({ input_tokens: 14, output_tokens: 6 });
    } finally {
      upstream.setFault(null);
    }
  });

  it("sends each line's body upstream as the line's own bytes (no re-serializing: spacing and big integers kept)", async () => {
    const body = `{ "model": "gpt-test",  "messages": [{"role":"user","content":"own bytes"}], "seed": 12345678901234567890 }`;
    const { done } = await runBatch(`{"custom_id":"bytes-1","method":"POST","url":"/v1/chat/completions","body":${body}}`);
    expect(done.request_counts).toEqual({ total: 1, completed: 1, failed: 0 });
    expect(upstream.lastRequest?.text).toBe(body);
  });

  it("puts an upstream 400 in the error file with its status and body without failing the batch", async () => {
    upstream.setFault(({ key }) => (key === "reject me" ? { status: 400, body: { error: { message: "Invalid value for 'temperature'.", type: "invalid_request_error", param: "temperature", code: null } } } : undefined));
    try {
      const content = [chatLine("good-1", "fine one"), chatLine("bad-1", "reject me"), chatLine("good-2", "fine two")].join("\n");
      const { done } = await runBatch(content);
      expect(done.status).toBe("completed");
      expect(done.request_counts).toEqual({ total: 3, completed: 2, failed: 1 });
      const errors = await readLines(done.error_file_id);
      expect(errors).toHaveLength(1);
      expect(errors[0]).toMatchObject({ custom_id: "bad-1", error: null, response: { status_code: 400, body: { error: { param: "temperature" } } } });
      expect((await readLines(done.output_file_id)).map((line) => line.custom_id)).toEqual(["good-1", "good-2"]);
    } finally {
      upstream.setFault(null);
    }
  });

  it("retries only the failed lines of a finished batch into the same result files: by default those another try can fix, with all every one", async () => {
    let rejecting = true;
    upstream.setFault(({ key }) => {
      if (!rejecting) return undefined;
      if (key.startsWith("second chance")) return { status: 400, body: { error: { message: "not now", type: "invalid_request_error", param: null, code: null } } };
      return key === "overloaded" ? { status: 503, retryAfter: "0" } : undefined;
    });
    try {
      const content = [chatLine("r-0", "first try ok"), chatLine("r-1", "second chance 1"), chatLine("r-2", "first try ok too"), chatLine("r-3", "overloaded")].join("\n");
      const { done } = await runBatch(content);
      expect(done.request_counts).toEqual({ total: 4, completed: 2, failed: 2 });
      rejecting = false;
      const okBefore = upstream.countsByKey.get("first try ok");
      const rejectedBefore = upstream.countsByKey.get("second chance 1");
      const finished = async () =>
        waitFor(async () => {
          const current = await client.batches.retrieve(done.id);
          return current.status === "completed" ? current : undefined;
        });

      // Default: the 503 runs again, the 400 (it would fail the same way) keeps its result.
      const retrying = await client.post<OpenAI.Batch>(`/batches/${done.id}/retry_failed`);
      expect(retrying.status).toBe("in_progress");
      // The previous results stay readable under the same ids while the retry runs.
      expect([retrying.output_file_id, retrying.error_file_id]).toEqual([done.output_file_id, done.error_file_id]);
      const once = await finished();
      expect(once.request_counts).toEqual({ total: 4, completed: 3, failed: 1 });
      expect(upstream.countsByKey.get("second chance 1")).toBe(rejectedBefore);
      expect((await readLines(once.error_file_id)).map((line) => line.custom_id)).toEqual(["r-1"]);
      await expect(client.post(`/batches/${done.id}/retry_failed`)).rejects.toMatchObject({ status: 409, message: expect.stringContaining("pass all") });

      // all: the 400 too.
      expect((await client.post<OpenAI.Batch>(`/batches/${done.id}/retry_failed`, { body: { all: true } })).status).toBe("in_progress");
      const again = await finished();
      expect(again.request_counts).toEqual({ total: 4, completed: 4, failed: 0 });
      expect(again.error_file_id).toBeNull();
      expect((await readLines(again.output_file_id)).map((line) => line.custom_id)).toEqual(["r-0", "r-1", "r-2", "r-3"]);
      expect(upstream.countsByKey.get("first try ok")).toBe(okBefore); // succeeded lines did not run again
      await expect(client.post(`/batches/${done.id}/retry_failed`, { body: { all: true } })).rejects.toMatchObject({ status: 409 }); // nothing left to retry
      await expect(client.post(`/batches/${done.id}/retry_failed`, { body: { all: "yes" } })).rejects.toMatchObject({ status: 400 });
    } finally {
      upstream.setFault(null);
    }
  });

  it("cancels a running batch, keeping finished results and marking the rest batch_cancelled", async () => {
    upstream.setFault(({ key }) => (key.startsWith("slow") ? { delayMs: 200 } : undefined));
    try {
      const lines = Array.from({ length: 60 }, (_, i) => chatLine(`s-${i}`, `slow ${i}`));
      const file = await client.files.create({ file: await toFile(Buffer.from(lines.join("\n")), "slow.jsonl"), purpose: "batch" });
      const batch = await client.batches.create({ input_file_id: file.id, endpoint: "/v1/chat/completions", completion_window: "24h" });
      await waitFor(async () => ((await client.batches.retrieve(batch.id)).request_counts?.completed ?? 0) > 0, { what: "some progress" });
      // Finished results can be read while the batch still runs.
      const partial = (await (await fetch(`${spool.openaiBaseUrl}/batches/${batch.id}/results`)).text()).trim().split("\n");
      expect(partial.length).toBeGreaterThan(0);
      expect(partial.length).toBeLessThan(60);
      expect((JSON.parse(partial[0]!) as { response: { status_code: number } }).response.status_code).toBe(200);
      const cancelling = await client.batches.cancel(batch.id);
      expect(["cancelling", "cancelled"]).toContain(cancelling.status);
      const done = await waitFor(async () => {
        const current = await client.batches.retrieve(batch.id);
        return current.status === "cancelled" ? current : undefined;
      });
      expect(done.cancelled_at).not.toBeNull();
      expect(done.in_progress_at).not.toBeNull();
      const counts = done.request_counts!;
      expect(counts.completed + counts.failed).toBe(60);
      expect(counts.completed).toBeGreaterThan(0);
      expect(counts.completed).toBeLessThan(60);
      const errorLines = await readLines(done.error_file_id);
      expect(errorLines.length).toBe(counts.failed);
      expect(errorLines.every((line) => (line.error as { code: string }).code === "batch_cancelled")).toBe(true);
      // Cancelling a cancelled batch is not an error: OpenAI answers 200 with the batch.
      expect((await client.batches.cancel(batch.id)).status).toBe("cancelled");
    } finally {
      upstream.setFault(null);
    }
  });

  it("runs an embeddings batch", async () => {
    const content = Array.from({ length: 5 }, (_, i) =>
      JSON.stringify({ custom_id: `e-${i}`, method: "POST", url: "/v1/embeddings", body: { model: "embed-test", input: `text ${i}` } }),
    ).join("\n");
    const { done } = await runBatch(content, "/v1/embeddings");
    expect(done.status).toBe("completed");
    const lines = await readLines(done.output_file_id);
    expect(lines).toHaveLength(5);
    expect((lines[0] as { response: { body: { data: { embedding: number[] }[] } } }).response.body.data[0]?.embedding.length).toBeGreaterThan(0);
  });

  it("lists batches newest first with pagination", async () => {
    const page = await client.batches.list({ limit: 2 });
    expect(page.data.length).toBe(2);
    expect(page.has_more).toBe(true);
    const all: string[] = [];
    for await (const batch of client.batches.list({ limit: 2 })) all.push(batch.id);
    expect(new Set(all).size).toBe(all.length);
    expect(all.length).toBeGreaterThanOrEqual(6);
  });

  it("answers synchronous chat completions through the same engines", async () => {
    const reply = await client.chat.completions.create({ model: "gpt-test", messages: [{ role: "user", content: "sync hello" }] });
    expect(reply.choices[0]?.message.content).toContain("sync hello");
    const models = await client.models.list();
    expect(models.data.map((model) => model.id).sort()).toEqual(["embed-test", "gpt-test"]);
    await expect(client.chat.completions.create({ model: "nope", messages: [{ role: "user", content: "x" }] })).rejects.toMatchObject({ status: 404 });
  });
});
