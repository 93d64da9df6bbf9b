/**
 * Durability: a spool process killed with SIGKILL in the middle of a batch of thousands of requests is
 * started again on the same data dir; the batch completes with exactly one result line per input line, and
 * the upstream saw each request no more often than the crash explains. The same holds for a Batch whose
 * claim order is not its input order (interleaved system prompts, regrouped by prefix), and for an
 * Anthropic Message Batch (inline requests, results through the SDK). And SIGTERM
 * returns leased work at once, so a restart does not wait for Leases to expire.
 */
import Anthropic from "@anthropic-ai/sdk";
import OpenAI, { toFile } from "openai";
import { afterEach, describe, expect, it } from "vitest";
import { startFakeOpenAIUpstream, type FakeOpenAIUpstream } from "../helpers/fake-openai-upstream.ts";
import { chatFile, interleavedPrefixFile, systemPromptGroup } from "../helpers/batch-files.ts";
import { makeDataDir, writeConfigFile } from "../helpers/spool-app.ts";
import { startSpoolProcess, type SpoolProcess } from "../helpers/spool-process.ts";
import { waitFor } from "../helpers/wait-for.ts";

const CONCURRENCY = 16;
let upstream: FakeOpenAIUpstream | null = null;
const processes: SpoolProcess[] = [];

afterEach(async () => {
  for (const proc of processes.splice(0)) proc.kill("SIGKILL");
  await upstream?.close();
  upstream = null;
});

async function setUp(label: string, leaseMs: number) {
  upstream = await startFakeOpenAIUpstream({ latencyMs: 5, record: true });
  const dataDir = makeDataDir(label);
  const configPath = writeConfigFile(dataDir, {
    port: 0,
    dataDir,
    models: [{ name: "gpt-test", engine: "openai", baseUrl: upstream.url, concurrency: CONCURRENCY }],
    worker: { leaseMs, sweepMs: 100, shutdownGraceMs: 2_000 },
  });
  return { configPath, upstream };
}

async function start(configPath: string): Promise<{ proc: SpoolProcess; client: OpenAI }> {
  const proc = await startSpoolProcess({ configPath });
  processes.push(proc);
  return { proc, client: new OpenAI({ apiKey: "sk-test", baseURL: `${proc.url}/v1`, maxRetries: 0 }) };
}

async function submit(client: OpenAI, count: number, content = chatFile(count)): Promise<string> {
  const file = await client.files.create({ file: await toFile(Buffer.from(content), "big.jsonl"), purpose: "batch" });
  const batch = await client.batches.create({ input_file_id: file.id, endpoint: "/v1/chat/completions", completion_window: "24h" });
  return batch.id;
}

async function finished(client: OpenAI, batchId: string, timeoutMs = 60_000) {
  return waitFor(async () => {
    const batch = await client.batches.retrieve(batchId);
    return batch.status === "completed" ? batch : undefined;
  }, { timeoutMs, what: "batch completion", intervalMs: 100 });
}

async function outputCustomIds(client: OpenAI, fileId: string): Promise<string[]> {
  const text = await (await client.files.content(fileId)).text();
  return text.trim().split("\n").map((line) => {
    const parsed = JSON.parse(line) as { custom_id: string; response: { status_code: number } };
    expect(parsed.response.status_code).toBe(200);
    return parsed.custom_id;
  });
}

/** 8 system prompts, line i using prompt i % 8: claimed as 8 runs of 375, not in file order. */
const PREFIXES = 8;

describe("crash safety", () => {
  it.each([
    { order: "in input order", file: (total: number) => chatFile(total) },
    { order: "regrouped by prefix", file: (total: number) => interleavedPrefixFile(total, { prefixes: PREFIXES }) },
  ])("completes a batch ($order) killed with SIGKILL mid-run with exactly one result per input line, in input order", async ({ order, file }) => {
    const total = 3_000;
    const { configPath, upstream } = await setUp(`sigkill ${order}`, 1_500);
    const first = await start(configPath);
    const batchId = await submit(first.client, total, file(total));
    await waitFor(async () => ((await first.client.batches.retrieve(batchId)).request_counts?.completed ?? 0) >= 600, { what: "progress before the kill" });
    first.proc.kill("SIGKILL");
    expect(await first.proc.exited).toBe("SIGKILL");
    const seenBeforeRestart = upstream.requests;
    expect(seenBeforeRestart).toBeLessThan(total); // the kill really happened mid-batch
    if (order === "regrouped by prefix") {
      // The run really was reordered: the first requests all share the first system prompt.
      const groups = upstream.received.slice(0, 300).map((request) => systemPromptGroup(String((request.body.messages as { content: string }[])[0]?.content)));
      expect(new Set(groups)).toEqual(new Set([0]));
    }

    const second = await start(configPath);
    const done = await finished(second.client, batchId);
    expect(done.request_counts).toEqual({ total, completed: total, failed: 0 });
    const ids = await outputCustomIds(second.client, done.output_file_id ?? "");
    expect(ids).toHaveLength(total);
    expect(new Set(ids).size).toBe(total);
    expect(ids).toEqual(Array.from({ length: total }, (_, i) => `req-${i}`));

    // Each request reached the upstream once, except those in flight or unrecorded at the kill: at most
    // the lane's claim window (2 x concurrency) plus one unflushed result buffer (500).
    let repeated = 0;
    for (let i = 0; i < total; i += 1) {
      const count = upstream.countsByKey.get(`prompt ${i}`) ?? 0;
      expect(count).toBeGreaterThanOrEqual(1);
      expect(count).toBeLessThanOrEqual(2);
      if (count === 2) repeated += 1;
    }
    expect(repeated).toBeLessThanOrEqual(2 * CONCURRENCY + 500);
  });

  it("completes an Anthropic Message Batch killed with SIGKILL mid-run with exactly one result per request", async () => {
    const total = 1_000;
    const { configPath, upstream } = await setUp("sigkill anthropic", 1_500);
    const first = await start(configPath);
    const client = (proc: SpoolProcess) => new Anthropic({ apiKey: "sk-test", baseURL: proc.url, maxRetries: 0 });
    const requests = Array.from({ length: total }, (_, i) => ({ custom_id: `m-${i}`, params: { model: "gpt-test", max_tokens: 8, messages: [{ role: "user" as const, content: `prompt ${i}` }] } }));
    const { id } = await client(first.proc).messages.batches.create({ requests });
    await waitFor(async () => (await client(first.proc).messages.batches.retrieve(id)).request_counts.succeeded >= 200, { what: "progress before the kill" });
    first.proc.kill("SIGKILL");
    expect(await first.proc.exited).toBe("SIGKILL");
    expect(upstream.requests).toBeLessThan(total);

    const second = await start(configPath);
    const done = await waitFor(async () => {
      const batch = await client(second.proc).messages.batches.retrieve(id);
      return batch.processing_status === "ended" ? batch : undefined;
    }, { timeoutMs: 60_000, what: "the batch to end", intervalMs: 100 });
    expect(done.request_counts).toEqual({ processing: 0, succeeded: total, errored: 0, canceled: 0, expired: 0 });
    const seen: string[] = [];
    for await (const line of await client(second.proc).messages.batches.results(id)) {
      expect(line.result.type).toBe("succeeded");
      seen.push(line.custom_id);
    }
    expect(seen).toEqual(requests.map((request) => request.custom_id));
    for (let i = 0; i < total; i += 1) expect(upstream.countsByKey.get(`prompt ${i}`) ?? 0).toBeGreaterThanOrEqual(1);
    expect(upstream.requests - total).toBeLessThanOrEqual(2 * CONCURRENCY + 500);
  });

  it("returns leased work on SIGTERM so a restart finishes without waiting for leases to expire", async () => {
    const total = 2_000;
    // A lease far longer than the test: only an explicit release lets the restart pick the items up.
    const { configPath } = await setUp("sigterm", 600_000);
    const first = await start(configPath);
    const batchId = await submit(first.client, total);
    await waitFor(async () => ((await first.client.batches.retrieve(batchId)).request_counts?.completed ?? 0) >= 300, { what: "progress before SIGTERM" });
    first.proc.kill("SIGTERM");
    expect(await first.proc.exited).toBe(0);

    const second = await start(configPath);
    const done = await finished(second.client, batchId, 30_000);
    const ids = await outputCustomIds(second.client, done.output_file_id ?? "");
    expect(new Set(ids).size).toBe(total);
    expect(ids).toHaveLength(total);
  });
});
