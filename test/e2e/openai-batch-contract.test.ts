/**
 * OpenAI batch behaviour as the hosted service has it (issue 15), with the real `openai` SDK against a
 * running spool on an openai engine and on the llama-cpp demo model: `/v1/responses` batches, a bad
 * message failing only its line, an unknown input file failing the created batch naming `file_id`, and a
 * line that asks to stream failing the batch with `streaming_unsupported`.
 */
import OpenAI, { toFile } from "openai";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { chatLine } from "../helpers/batch-files.ts";
import { startFakeOpenAIUpstream, type FakeOpenAIUpstream } from "../helpers/fake-openai-upstream.ts";
import { startTestApp, type TestApp } from "../helpers/spool-app.ts";
import { ensureTinyModel } from "../helpers/test-model.ts";
import { waitFor } from "../helpers/wait-for.ts";

let upstream: FakeOpenAIUpstream;
let spool: TestApp;
let client: OpenAI;

beforeAll(async () => {
  upstream = await startFakeOpenAIUpstream();
  const modelPath = await ensureTinyModel();
  spool = await startTestApp(
    {
      models: [
        { name: "gpt-test", engine: "openai", baseUrl: upstream.url, concurrency: 4, maxRetries: 0 },
        { name: "tiny", engine: "llama-cpp", path: modelPath, threads: 1, sequences: 2, concurrency: 2 },
      ],
      worker: { sweepMs: 50 },
    },
    { label: "openai-batch-contract" },
  );
  client = new OpenAI({ apiKey: "k", baseURL: spool.openaiBaseUrl, maxRetries: 0 });
}, 120_000);

afterAll(async () => {
  await spool?.stop();
  await upstream?.close();
});

type ResultLine = { custom_id: string; response: { status_code: number; body: Record<string, unknown> } | null; error: { code: string } | null };

async function runBatch(lines: object[] | string, endpoint: "/v1/chat/completions" | "/v1/responses") {
  const content = typeof lines === "string" ? lines : lines.map((line) => JSON.stringify(line)).join("\n");
  const file = await client.files.create({ file: await toFile(Buffer.from(content), "in.jsonl"), purpose: "batch" });
  const created = await client.batches.create({ input_file_id: file.id, endpoint, completion_window: "24h" });
  return ended(created.id);
}

async function ended(id: string) {
  return waitFor(async () => {
    const batch = await client.batches.retrieve(id);
    return ["completed", "failed", "expired", "cancelled"].includes(batch.status) ? batch : undefined;
  }, { timeoutMs: 60_000, what: `batch ${id} to end` });
}

async function lines(fileId: string | null | undefined): Promise<ResultLine[]> {
  if (!fileId) return [];
  return (await (await client.files.content(fileId)).text()).trim().split("\n").map((line) => JSON.parse(line) as ResultLine);
}

const responseLine = (id: string, body: Record<string, unknown>) => ({ custom_id: id, method: "POST", url: "/v1/responses", body });

describe("/v1/responses batches", () => {
  it("runs Responses lines through chat completions and writes response objects; a line with no chat form fails alone", async () => {
    const batch = await runBatch(
      [
        responseLine("text", { model: "gpt-test", input: "batched response", instructions: "Be terse." }),
        responseLine("items", { model: "gpt-test", input: [{ role: "user", content: [{ type: "input_text", text: "from items" }] }], max_output_tokens: 20 }),
        responseLine("search", { model: "gpt-test", input: "x", tools: [{ type: "web_search" }] }),
      ],
      "/v1/responses",
    );
    expect(batch.status).toBe("completed");
    expect(batch.endpoint).toBe("/v1/responses");
    expect(batch.request_counts).toEqual({ total: 3, completed: 2, failed: 1 });
    const output = await lines(batch.output_file_id);
    expect(output.map((line) => line.custom_id)).toEqual(["text", "items"]);
    const first = output[0]!.response!.body as { object: string; id: string; status: string; instructions: string; output: { content: { text: string }[] }[]; usage: { total_tokens: number } };
    expect(first).toMatchObject({ object: "response", status: "completed", instructions: "Be terse." });
    expect(first.id).toMatch(/^resp_/);
    expect(first.output[0]?.content[0]?.text).toBe("echo: batched response");
    expect(first.usage.total_tokens).toBeGreaterThan(0);
    const errors = await lines(batch.error_file_id);
    expect(errors).toHaveLength(1);
    expect(errors[0]).toMatchObject({ custom_id: "search", response: { status_code: 400, body: { error: { param: "tools[0].type", type: "invalid_request_error" } } }, error: null });
  });

  it("runs Responses lines on the llama-cpp engine", async () => {
    const batch = await runBatch([responseLine("local", { model: "tiny", input: "hello there", max_output_tokens: 8 })], "/v1/responses");
    expect(batch.status).toBe("completed");
    const [line] = await lines(batch.output_file_id);
    const body = line!.response!.body as { object: string; model: string; usage: { output_tokens: number }; output: { type: string }[] };
    expect(body).toMatchObject({ object: "response", model: "tiny" });
    expect(body.output[0]?.type).toBe("message");
    expect(body.usage.output_tokens).toBeGreaterThan(0);
    expect(body.usage.output_tokens).toBeLessThanOrEqual(8);
  });
});

describe("what fails the batch and what fails only its line", () => {
  it("runs a line whose message the engine rejects, failing only that line in the error file", async () => {
    const batch = await runBatch(
      [
        JSON.parse(chatLine("good-1", "one", "tiny")),
        { custom_id: "rolez", method: "POST", url: "/v1/chat/completions", body: { model: "tiny", messages: [{ rolez: "user", contentz: "x" }], max_tokens: 4 } },
        JSON.parse(chatLine("good-2", "two", "tiny")),
      ],
      "/v1/chat/completions",
    );
    expect(batch.status).toBe("completed");
    expect(batch.request_counts).toEqual({ total: 3, completed: 2, failed: 1 });
    const [error] = await lines(batch.error_file_id);
    expect(error).toMatchObject({ custom_id: "rolez", response: { status_code: 400 } });
  });

  it("creates a batch over an unknown file, which then fails naming file_id", async () => {
    const created = await client.batches.create({ input_file_id: "file-does-not-exist", endpoint: "/v1/chat/completions", completion_window: "24h" });
    expect(created.status).toBe("validating");
    const batch = await ended(created.id);
    expect(batch.status).toBe("failed");
    expect(batch.errors?.data).toEqual([{ code: "invalid_request", line: null, param: "file_id", message: expect.stringContaining("Cannot find file file-does-not-exist") }]);
  });

  it("fails a batch with a line that asks to stream, naming the line and body.stream", async () => {
    const batch = await runBatch([JSON.parse(chatLine("plain", "x")), JSON.parse(chatLine("streamed", "y", "gpt-test", { stream: true }))], "/v1/chat/completions");
    expect(batch.status).toBe("failed");
    expect(batch.errors?.data).toEqual([{ code: "streaming_unsupported", line: 2, param: "body.stream", message: expect.stringContaining("Streaming is not supported in the Batch API") }]);
  });
});
