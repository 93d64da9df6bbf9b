/**
 * `processConcurrency`: one process runs at most that many of a Model's requests, Batch and sync alike,
 * even when the Model's `concurrency` (the whole deployment's budget) would allow more. The sharing of
 * the rest with other processes on PostgreSQL is covered by the capacity ledger tests (test/store/).
 */
import OpenAI from "openai";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { chatFile } from "../helpers/batch-files.ts";
import { startFakeOpenAIUpstream, type FakeOpenAIUpstream } from "../helpers/fake-openai-upstream.ts";
import { runOpenAIBatch } from "../helpers/openai-batch-run.ts";
import { startTestApp, type TestApp } from "../helpers/spool-app.ts";

let upstream: FakeOpenAIUpstream;
let spool: TestApp;

beforeAll(async () => {
  upstream = await startFakeOpenAIUpstream({ latencyMs: 30 });
  spool = await startTestApp({ models: [{ name: "gpt-test", engine: "openai", baseUrl: upstream.url, concurrency: 16, processConcurrency: 3, adaptive: false }] }, { label: "process-concurrency" });
});

afterAll(async () => {
  await spool?.stop();
  await upstream?.close();
});

describe("processConcurrency", () => {
  it("keeps a Batch and concurrent sync requests to the process's cap, not the Model's whole concurrency", async () => {
    const sdk = new OpenAI({ apiKey: "sk-test", baseURL: spool.openaiBaseUrl, maxRetries: 0 });
    const sync = Promise.all(Array.from({ length: 8 }, (_, n) => sdk.chat.completions.create({ model: "gpt-test", messages: [{ role: "user", content: `sync ${n}` }] })));
    const { done } = await runOpenAIBatch(spool, chatFile(60));
    const answers = await sync;

    expect(done.request_counts).toEqual({ total: 60, completed: 60, failed: 0 });
    expect(answers.every((answer) => answer.choices[0]?.message.content?.startsWith("echo: sync"))).toBe(true);
    expect(upstream.maxInFlight).toBe(3);
  });
});
