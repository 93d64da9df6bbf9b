/**
 * Several processes, one upstream budget: two worker processes (and an API process) on one PostgreSQL run
 * one Batch against an upstream that accepts 32 requests at once and answers 429 beyond. The Model's
 * `concurrency: 32` is split through the capacity ledger, so together they never exceed it: no 429 at all,
 * while both processes use their share (more than one process's 16 in flight at times).
 */
import OpenAI, { toFile } from "openai";
import { afterAll, describe, expect, it } from "vitest";
import { chatFile } from "../helpers/batch-files.ts";
import { startFakeOpenAIUpstream, type FakeOpenAIUpstream } from "../helpers/fake-openai-upstream.ts";
import { TEST_DATABASE_URL, testSchemaName } from "../helpers/postgres.ts";
import { makeDataDir, writeConfigFile } from "../helpers/spool-app.ts";
import { startSpoolProcess, type SpoolProcess } from "../helpers/spool-process.ts";
import { waitFor } from "../helpers/wait-for.ts";

const processes: SpoolProcess[] = [];
let upstream: FakeOpenAIUpstream | null = null;

afterAll(async () => {
  for (const proc of processes) proc.kill("SIGKILL");
  await upstream?.close();
});

describe("one upstream budget shared by processes on PostgreSQL", () => {
  it("two worker processes together stay within the Model's concurrency", async () => {
    const total = 2_000;
    upstream = await startFakeOpenAIUpstream({ latencyMs: 20 });
    upstream.setCapacity(32);
    const url = new URL(TEST_DATABASE_URL);
    url.searchParams.set("schema", testSchemaName("shared-capacity"));
    const configFor = (label: string) => {
      const dataDir = makeDataDir(label);
      return writeConfigFile(dataDir, {
        port: 0,
        dataDir,
        databaseUrl: url.toString(),
        models: [{ name: "gpt-test", engine: "openai", baseUrl: upstream!.url, concurrency: 32 }],
        worker: { leaseMs: 5_000, sweepMs: 100 },
      });
    };
    const api = await startSpoolProcess({ configPath: configFor("api"), args: ["--no-workers"] });
    processes.push(api);
    const workers = await Promise.all(["worker-1", "worker-2"].map((label) => startSpoolProcess({ command: "worker", configPath: configFor(label) })));
    processes.push(...workers);
    // Both workers have beaten at least once (a beat a second), so each knows of the other.
    await new Promise((resolve) => setTimeout(resolve, 1_500));

    const client = new OpenAI({ apiKey: "k", baseURL: `${api.url}/v1`, maxRetries: 0 });
    const file = await client.files.create({ file: await toFile(Buffer.from(chatFile(total)), "shared.jsonl"), purpose: "batch" });
    const batch = await client.batches.create({ input_file_id: file.id, endpoint: "/v1/chat/completions", completion_window: "24h" });
    const done = await waitFor(async () => {
      const current = await client.batches.retrieve(batch.id);
      return current.status === "completed" ? current : undefined;
    }, { what: "completion", timeoutMs: 120_000, intervalMs: 200 });

    expect(done.request_counts).toEqual({ total, completed: total, failed: 0 });
    expect(upstream.rejectedByCapacity).toBe(0);
    expect(upstream.maxInFlight).toBeLessThanOrEqual(32);
    // The budget is used, not just respected: the processes hand slots to each other rather than idling.
    expect(upstream.maxInFlight).toBeGreaterThan(16);
  }, 180_000);
});
