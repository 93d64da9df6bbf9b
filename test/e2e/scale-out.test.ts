/**
 * Scale-out on PostgreSQL: 2 API processes and 3 worker processes share one database. A batch created through
 * one API process is read, and its results downloaded, through the other; one worker is killed with SIGKILL
 * mid-run and the others finish its leased work after the lease expires; exactly one result per input.
 */
import OpenAI, { toFile } from "openai";
import { afterAll, describe, expect, it } from "vitest";
import { chatFile } from "../helpers/batch-files.ts";
import { startFakeOpenAIUpstream, type FakeOpenAIUpstream } from "../helpers/fake-openai-upstream.ts";
import { postgresUnavailableReason, TEST_DATABASE_URL, testSchemaName } from "../helpers/postgres.ts";
import { makeDataDir, writeConfigFile } from "../helpers/spool-app.ts";
import { startSpoolProcess, type SpoolProcess } from "../helpers/spool-process.ts";
import { waitFor } from "../helpers/wait-for.ts";

const available = (await postgresUnavailableReason()) === null;
const processes: SpoolProcess[] = [];
let upstream: FakeOpenAIUpstream | null = null;

afterAll(async () => {
  for (const proc of processes) proc.kill("SIGKILL");
  await upstream?.close();
});

describe.skipIf(!available)("scale-out on PostgreSQL", () => {
  it("runs one batch across 3 worker processes and 2 API processes, surviving a killed worker", async () => {
    const total = 3_000;
    upstream = await startFakeOpenAIUpstream({ latencyMs: 5 });
    const url = new URL(TEST_DATABASE_URL);
    url.searchParams.set("schema", testSchemaName("scale-out"));
    const databaseUrl = url.toString();
    const configFor = (label: string) => {
      const dataDir = makeDataDir(label);
      return writeConfigFile(dataDir, {
        port: 0,
        dataDir,
        databaseUrl,
        models: [{ name: "gpt-test", engine: "openai", baseUrl: upstream!.url, concurrency: 8 }],
        worker: { leaseMs: 2_000, sweepMs: 100 },
      });
    };
    // The first process migrates the schema; the others then start together.
    const apiA = await startSpoolProcess({ configPath: configFor("api-a"), args: ["--no-workers"] });
    processes.push(apiA);
    const [apiB, ...workers] = await Promise.all([
      startSpoolProcess({ configPath: configFor("api-b"), args: ["--no-workers"] }),
      ...["worker-1", "worker-2", "worker-3"].map((label) => startSpoolProcess({ command: "worker", configPath: configFor(label) })),
    ]);
    processes.push(apiB!, ...workers);
    const clientA = new OpenAI({ apiKey: "k", baseURL: `${apiA.url}/v1`, maxRetries: 0 });
    const clientB = new OpenAI({ apiKey: "k", baseURL: `${apiB!.url}/v1`, maxRetries: 0 });

    const file = await clientA.files.create({ file: await toFile(Buffer.from(chatFile(total)), "scale.jsonl"), purpose: "batch" });
    expect((await clientB.files.retrieve(file.id)).bytes).toBe(file.bytes);
    const batch = await clientA.batches.create({ input_file_id: file.id, endpoint: "/v1/chat/completions", completion_window: "24h" });
    await waitFor(async () => ((await clientB.batches.retrieve(batch.id)).request_counts?.completed ?? 0) >= total / 4, { what: "a quarter done", timeoutMs: 60_000 });
    workers[0]!.kill("SIGKILL");
    expect(await workers[0]!.exited).toBe("SIGKILL");

    const done = await waitFor(async () => {
      const current = await clientB.batches.retrieve(batch.id);
      return current.status === "completed" ? current : undefined;
    }, { what: "completion", timeoutMs: 90_000, intervalMs: 100 });
    expect(done.request_counts).toEqual({ total, completed: total, failed: 0 });
    const lines = (await (await clientB.files.content(done.output_file_id ?? "")).text()).trim().split("\n");
    const ids = lines.map((line) => (JSON.parse(line) as { custom_id: string }).custom_id);
    expect(ids).toEqual(Array.from({ length: total }, (_, i) => `req-${i}`));
    for (let i = 0; i < total; i += 1) expect(upstream.countsByKey.get(`prompt ${i}`) ?? 0).toBeLessThanOrEqual(2);
    // The cancel path goes through the other API process too.
    await expect(clientA.batches.cancel(batch.id)).rejects.toMatchObject({ status: 409 });
  }, 240_000);
});
