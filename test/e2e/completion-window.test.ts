/**
 * The completion window is enforced: past it, unfinished Items end as batch_expired and the Batch is
 * `expired` with what finished. Time is driven by a manual clock shared by the API, Workers and Sweeper.
 */
import Anthropic from "@anthropic-ai/sdk";
import OpenAI, { toFile } from "openai";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ManualClock } from "../../src/core/clock.ts";
import { chatLine } from "../helpers/batch-files.ts";
import { startFakeOpenAIUpstream, type FakeOpenAIUpstream } from "../helpers/fake-openai-upstream.ts";
import { startTestApp, type TestApp } from "../helpers/spool-app.ts";
import { waitFor } from "../helpers/wait-for.ts";

let upstream: FakeOpenAIUpstream;
let spool: TestApp;
const clock = new ManualClock(Date.now());

beforeAll(async () => {
  upstream = await startFakeOpenAIUpstream();
  upstream.setFault(({ key }) => (key.startsWith("late") ? { hang: true } : undefined));
  spool = await startTestApp(
    { models: [{ name: "gpt-test", engine: "openai", baseUrl: upstream.url, concurrency: 8 }], worker: { leaseMs: 5_000, sweepMs: 50, shutdownGraceMs: 100 } },
    { label: "window", clock },
  );
});

afterAll(async () => {
  await spool?.stop();
  await upstream?.close();
});

describe("completion window", () => {
  it("expires unfinished requests past the window and keeps the finished ones", async () => {
    const client = new OpenAI({ apiKey: "sk-test", baseURL: spool.openaiBaseUrl, maxRetries: 0 });
    const lines = [...Array.from({ length: 5 }, (_, i) => chatLine(`early-${i}`, `early ${i}`)), ...Array.from({ length: 5 }, (_, i) => chatLine(`late-${i}`, `late ${i}`))];
    const file = await client.files.create({ file: await toFile(Buffer.from(lines.join("\n")), "window.jsonl"), purpose: "batch" });
    const batch = await client.batches.create({ input_file_id: file.id, endpoint: "/v1/chat/completions", completion_window: "24h" });
    expect(batch.expires_at).toBe(batch.created_at + 24 * 3600);
    await waitFor(async () => (await client.batches.retrieve(batch.id)).request_counts?.completed === 5, { what: "the early requests" });

    clock.advance(24 * 3600 * 1000 + 1);
    spool.app.sweeper?.notify();
    const done = await waitFor(async () => {
      const current = await client.batches.retrieve(batch.id);
      return current.status === "expired" ? current : undefined;
    }, { what: "expiry" });
    expect(done.expired_at).not.toBeNull();
    expect(done.completed_at).toBeNull();
    expect(done.request_counts).toEqual({ total: 10, completed: 5, failed: 5 });
    const output = (await (await client.files.content(done.output_file_id ?? "")).text()).trim().split("\n").map((line) => JSON.parse(line) as { custom_id: string });
    expect(output.map((line) => line.custom_id)).toEqual(["early-0", "early-1", "early-2", "early-3", "early-4"]);
    const errors = (await (await client.files.content(done.error_file_id ?? "")).text()).trim().split("\n").map((line) => JSON.parse(line) as { custom_id: string; response: unknown; error: { code: string } });
    expect(errors.map((line) => line.custom_id)).toEqual(["late-0", "late-1", "late-2", "late-3", "late-4"]);
    expect(errors.every((line) => line.response === null && line.error.code === "batch_expired")).toBe(true);
  });

  it("ends an Anthropic batch 24 h after creation, its unfinished requests `expired` in the results", async () => {
    const client = new Anthropic({ apiKey: "sk-test", baseURL: spool.url, maxRetries: 0 });
    const requests = ["early-a", "late-a", "late-b"].map((text) => ({ custom_id: text, params: { model: "gpt-test", max_tokens: 5, messages: [{ role: "user" as const, content: text }] } }));
    const batch = await client.messages.batches.create({ requests });
    await waitFor(async () => (await client.messages.batches.retrieve(batch.id)).request_counts.succeeded === 1, { what: "the early request" });
    clock.advance(24 * 3600 * 1000 + 1);
    spool.app.sweeper?.notify();
    const done = await waitFor(async () => {
      const current = await client.messages.batches.retrieve(batch.id);
      return current.processing_status === "ended" ? current : undefined;
    }, { what: "expiry" });
    expect(done.request_counts).toEqual({ processing: 0, succeeded: 1, errored: 0, canceled: 0, expired: 2 });
    const results: Record<string, string> = {};
    for await (const line of await client.messages.batches.results(batch.id)) results[line.custom_id] = line.result.type;
    expect(results).toEqual({ "early-a": "succeeded", "late-a": "expired", "late-b": "expired" });
  });

  it("deletes an uploaded file and its contents once its expires_after passes", async () => {
    const client = new OpenAI({ apiKey: "sk-test", baseURL: spool.openaiBaseUrl, maxRetries: 0 });
    const file = await client.files.create({ file: await toFile(Buffer.from("{}\n"), "short.jsonl"), purpose: "batch", expires_after: { anchor: "created_at", seconds: 3600 } });
    expect(file.expires_at).toBe(file.created_at + 3600);
    spool.app.sweeper?.notify();
    expect((await client.files.retrieve(file.id)).id).toBe(file.id); // not yet expired
    clock.advance(3600 * 1000 + 1);
    spool.app.sweeper?.notify();
    await waitFor(async () => {
      const response = await fetch(`${spool.openaiBaseUrl}/files/${file.id}`);
      return response.status === 404;
    }, { what: "the expired file to be deleted" });
    expect((await fetch(`${spool.openaiBaseUrl}/files/${file.id}/content`)).status).toBe(404);
    expect(await spool.app.context.blobs.size(file.id)).toBeNull();
  });
});
