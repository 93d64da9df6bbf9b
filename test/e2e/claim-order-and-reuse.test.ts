/**
 * Issue 10 end to end, through the real `openai` SDK against a real spool (SQLite, Workers) and the fake
 * OpenAI upstream: Items sharing a system prompt reach the upstream back to back (and in file order with
 * `worker.dispatchOrder: input`), identical requests run once with every line answered under its own
 * custom_id, and reuse follows each Model's `reuseResults`. Result files keep input order and their shape.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { chatLine, interleavedPrefixFile, systemPromptGroup } from "../helpers/batch-files.ts";
import { startFakeOpenAIUpstream, type FakeOpenAIUpstream } from "../helpers/fake-openai-upstream.ts";
import { startTestApp, type TestApp } from "../helpers/spool-app.ts";
import { runOpenAIBatch } from "../helpers/openai-batch-run.ts";

let upstream: FakeOpenAIUpstream;
let spool: TestApp;

const models = (upstreamUrl: string) => [
  // Concurrency 1: the upstream sees requests in exactly the order they were claimed.
  { name: "gpt-ordered", engine: "openai" as const, baseUrl: upstreamUrl, concurrency: 1 },
  { name: "gpt-test", engine: "openai" as const, baseUrl: upstreamUrl, concurrency: 8 },
  { name: "gpt-always", engine: "openai" as const, baseUrl: upstreamUrl, concurrency: 8, reuseResults: "always" as const },
  { name: "gpt-never", engine: "openai" as const, baseUrl: upstreamUrl, concurrency: 8, reuseResults: "never" as const },
  { name: "embed-test", engine: "openai" as const, baseUrl: upstreamUrl, concurrency: 8 },
];

beforeAll(async () => {
  upstream = await startFakeOpenAIUpstream({ record: true });
  spool = await startTestApp({ models: models(upstream.url), worker: { leaseMs: 5_000, sweepMs: 50 } }, { label: "claim-order-reuse" });
});

afterAll(async () => {
  await spool?.stop();
  await upstream?.close();
});

beforeEach(() => upstream.resetCounts());

const runBatch = (app: TestApp, content: string, endpoint?: "/v1/chat/completions" | "/v1/embeddings") => runOpenAIBatch<OutputLine>(app, content, endpoint);

interface OutputLine {
  custom_id: string;
  response: { status_code: number; body: { id?: string; choices?: { message: { content: string } }[]; data?: { embedding: number[] }[] } };
  error: unknown;
}

/** 100 lines: `prompt 0..69`, then 30 repeats of earlier prompts (some repeated more than once). */
function fileWithDuplicates(model: string, temperature: number): { content: string; texts: string[] } {
  const texts = Array.from({ length: 100 }, (_, i) => (i < 70 ? `prompt ${i}` : `prompt ${(i * 7) % 20}`));
  const content = texts.map((text, i) => chatLine(`req-${i}`, text, model, { temperature })).join("\n");
  return { content: `${content}\n`, texts };
}

const upstreamCalls = (model: string): number => upstream.received.filter((request) => request.body.model === model).length;

describe("prefix-aware claim order", () => {
  it("sends Items sharing a system prompt to the upstream back to back, and writes the output in input order", async () => {
    const { done, lines } = await runBatch(spool, interleavedPrefixFile(30, { prefixes: 3, model: "gpt-ordered" }));
    const groups = upstream.received.map((request) => systemPromptGroup(String((request.body.messages as { content: string }[])[0]?.content)));
    expect(groups).toEqual([...Array(10).fill(0), ...Array(10).fill(1), ...Array(10).fill(2)]);
    expect(done.request_counts).toEqual({ total: 30, completed: 30, failed: 0 });
    expect(lines.map((line) => line.custom_id)).toEqual(Array.from({ length: 30 }, (_, i) => `req-${i}`));
    expect(lines.map((line) => line.response.body.choices?.[0]?.message.content)).toEqual(Array.from({ length: 30 }, (_, i) => `echo: prompt ${i}`));
  });

  it("keeps file order with worker.dispatchOrder: input", async () => {
    const inputOrder = await startTestApp({ models: models(upstream.url), worker: { leaseMs: 5_000, sweepMs: 50, dispatchOrder: "input" } }, { label: "claim-order-input" });
    try {
      await runBatch(inputOrder, interleavedPrefixFile(12, { prefixes: 3, model: "gpt-ordered" }));
      const groups = upstream.received.map((request) => systemPromptGroup(String((request.body.messages as { content: string }[])[0]?.content)));
      expect(groups).toEqual([0, 1, 2, 0, 1, 2, 0, 1, 2, 0, 1, 2]);
    } finally {
      await inputOrder.stop();
    }
  });
});

describe("duplicate reuse", () => {
  it("runs a batch with 30% duplicate lines at temperature 0 once per unique request, every line answered under its own custom_id", async () => {
    const { content, texts } = fileWithDuplicates("gpt-test", 0);
    const { done, lines, progress } = await runBatch(spool, content);
    expect(upstreamCalls("gpt-test")).toBe(new Set(texts).size);
    expect([...upstream.countsByKey.values()].every((count) => count === 1)).toBe(true);
    expect(done.request_counts).toEqual({ total: 100, completed: 100, failed: 0 });
    expect(progress.request_counts).toMatchObject({ total: 100, succeeded: 100, reused: 30 });
    expect(lines.map((line) => line.custom_id)).toEqual(texts.map((_, i) => `req-${i}`));
    expect(lines.map((line) => line.response.body.choices?.[0]?.message.content)).toEqual(texts.map((text) => `echo: ${text}`));
    // A duplicate's line is its leader's answer as the upstream sent it; nothing marks it as reused.
    const leaderOf = (text: string): OutputLine => lines[texts.indexOf(text)] as OutputLine;
    expect(lines[75]?.response).toEqual(leaderOf(texts[75] ?? "").response);
    expect(Object.keys(lines[75] ?? {})).toEqual(Object.keys(lines[0] ?? {}));
  });

  it("does not reuse duplicates at temperature 0.7 by default", async () => {
    const { content, texts } = fileWithDuplicates("gpt-test", 0.7);
    const { lines, progress } = await runBatch(spool, content);
    expect(upstreamCalls("gpt-test")).toBe(texts.length);
    expect(progress.request_counts).toMatchObject({ succeeded: 100, reused: 0 });
    expect(lines.map((line) => line.response.body.choices?.[0]?.message.content)).toEqual(texts.map((text) => `echo: ${text}`));
  });

  it("follows each model's reuseResults: always reuses at temperature 0.7, never runs every duplicate at 0", async () => {
    const always = fileWithDuplicates("gpt-always", 0.7);
    expect((await runBatch(spool, always.content)).progress.request_counts).toMatchObject({ reused: 30 });
    expect(upstreamCalls("gpt-always")).toBe(70);
    const never = fileWithDuplicates("gpt-never", 0);
    expect((await runBatch(spool, never.content)).progress.request_counts).toMatchObject({ reused: 0 });
    expect(upstreamCalls("gpt-never")).toBe(100);
  });

  it("reuses duplicate embedding inputs by default", async () => {
    const inputs = ["alpha", "beta", "alpha", "gamma", "beta", "alpha"];
    const content = inputs.map((input, i) => JSON.stringify({ custom_id: `e-${i}`, method: "POST", url: "/v1/embeddings", body: { model: "embed-test", input } })).join("\n");
    const { lines, progress } = await runBatch(spool, content, "/v1/embeddings");
    // Each distinct input reaches the upstream once (packed into fewer calls or not).
    const sent = upstream.received.filter((request) => request.body.model === "embed-test").flatMap((request) => [request.body.input].flat());
    expect(sent.sort()).toEqual(["alpha", "beta", "gamma"]);
    expect(progress.request_counts).toMatchObject({ total: 6, succeeded: 6, reused: 3 });
    expect(lines.map((line) => line.custom_id)).toEqual(inputs.map((_, i) => `e-${i}`));
    expect(lines[2]?.response.body.data).toEqual(lines[0]?.response.body.data);
    expect(lines[3]?.response.body.data).not.toEqual(lines[0]?.response.body.data);
  });
});
