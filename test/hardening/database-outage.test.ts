/**
 * PostgreSQL goes away under a running spool and comes back (issue 9, item 8). The database sits behind an
 * in-process TCP proxy (tcp-proxy.ts) so the shared server keeps running for other tests.
 *
 * While it is away: the API answers 503 in each dialect's shape (the SDKs retry 503), the log says once,
 * plainly, that the database is unreachable (no stack per request or per retry), and Workers and the
 * Sweeper keep running. When it is back: the same process serves requests again, and a Batch whose
 * results arrived during the outage completes with every result recorded once.
 */
import OpenAI, { toFile } from "openai";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { chatLine } from "../helpers/batch-files.ts";
import { startFakeOpenAIUpstream, type FakeOpenAIUpstream } from "../helpers/fake-openai-upstream.ts";
import { captureLog } from "../helpers/log-capture.ts";
import { freshTestSchema, TEST_DATABASE_URL } from "../helpers/postgres.ts";
import { startTestApp, type TestApp } from "../helpers/spool-app.ts";
import { storeBackends } from "../helpers/store-backends.ts";
import { startTcpProxy, type TcpProxy } from "../helpers/tcp-proxy.ts";
import { waitFor } from "../helpers/wait-for.ts";

const SLOW_MS = 2_000;
const log = captureLog("debug");
let proxy: TcpProxy;
let upstream: FakeOpenAIUpstream;
let spool: TestApp;
let openai: OpenAI;
const withPostgres = storeBackends.some((backend) => backend.name === "postgres");

beforeAll(async () => {
  if (!withPostgres) return;
  const target = new URL(TEST_DATABASE_URL);
  proxy = await startTcpProxy({ host: target.hostname, port: Number(target.port || 5432) });
  const viaProxy = new URL(TEST_DATABASE_URL);
  viaProxy.host = `127.0.0.1:${proxy.port}`;
  viaProxy.searchParams.set("schema", await freshTestSchema("database outage"));
  upstream = await startFakeOpenAIUpstream();
  // Requests for "slow-..." lines answer after SLOW_MS: their results come back while the database is away.
  upstream.setFault(({ key }) => (key.startsWith("slow") ? { delayMs: SLOW_MS } : undefined));
  spool = await startTestApp(
    {
      databaseUrl: viaProxy.toString(),
      models: [{ name: "gpt-test", engine: "openai", baseUrl: upstream.url, concurrency: 4, maxRetries: 0 }],
      worker: { leaseMs: 60_000, sweepMs: 50, pollMs: 50, shutdownGraceMs: 100 },
    },
    { label: "database-outage", logger: log.logger },
  );
  openai = new OpenAI({ apiKey: "sk-test", baseURL: spool.openaiBaseUrl, maxRetries: 0 });
});

afterAll(async () => {
  await proxy?.restore();
  await spool?.stop();
  await upstream?.close();
  await proxy?.close();
});

async function geminiGet(path: string): Promise<{ status: number; body: unknown }> {
  const response = await fetch(`${spool.url}${path}`, { headers: { "x-goog-api-key": "g-test" } });
  return { status: response.status, body: await response.json() };
}

describe.skipIf(!withPostgres)("a PostgreSQL outage under a running spool", () => {
  it("answers 503 in each dialect's shape, logs the outage once, and resumes every batch when the database is back", async () => {
    const lines = ["slow-1", "slow-2", "slow-3"].map((id) => chatLine(id, id));
    const input = await openai.files.create({ file: await toFile(Buffer.from(`${lines.join("\n")}\n`), "slow.jsonl"), purpose: "batch" });
    const batch = await openai.batches.create({ input_file_id: input.id, endpoint: "/v1/chat/completions", completion_window: "24h" });
    await waitFor(() => ["slow-1", "slow-2", "slow-3"].every((key) => upstream.countsByKey.get(key) === 1), { what: "the slow requests to reach the upstream" });

    await proxy.cut();

    const listed = await openai.batches.list().catch((error: unknown) => error);
    expect(listed).toBeInstanceOf(OpenAI.APIError);
    expect(listed).toMatchObject({ status: 503, code: "unavailable", type: "server_error", message: expect.stringMatching(/database is unreachable/) });
    const uploaded = await openai.files.create({ file: await toFile(Buffer.from(`${chatLine("x", "y")}\n`), "down.jsonl"), purpose: "batch" }).catch((error: unknown) => error);
    expect(uploaded).toMatchObject({ status: 503, code: "unavailable" });
    const created = await openai.batches.create({ input_file_id: input.id, endpoint: "/v1/chat/completions", completion_window: "24h" }).catch((error: unknown) => error);
    expect(created).toMatchObject({ status: 503, code: "unavailable" });
    // Readiness says why, so a load balancer takes the process out until the database is back; liveness does not.
    const ready = await fetch(`${spool.url}/ready`);
    expect(ready.status).toBe(503);
    expect(await ready.json()).toEqual({ status: "not_ready", reason: expect.stringMatching(/^the store is unreachable: .*database is unreachable/), store: expect.stringMatching(/database is unreachable/), models: [{ model: "gpt-test", state: "ready" }] });
    expect((await fetch(`${spool.url}/health`)).status).toBe(200);
    const gemini = await geminiGet("/v1beta/batches");
    expect(gemini).toEqual({ status: 503, body: { error: { code: 503, status: "UNAVAILABLE", message: expect.stringMatching(/database is unreachable/), details: [] } } });

    // The background loops meet the outage too: results that came back meanwhile wait in the Worker.
    await waitFor(() => log.lines.some((line) => line.msg === "recording results failed; retrying"), { what: "the Worker to meet the outage", timeoutMs: SLOW_MS * 5 });
    await waitFor(() => log.lines.some((line) => line.msg === "sweep failed"), { what: "the Sweeper to meet the outage" });
    expect(log.errors()).toEqual([expect.objectContaining({ msg: expect.stringMatching(/database is unreachable/), database: expect.stringContaining(`127.0.0.1:${proxy.port}`) })]);

    await proxy.restore();

    const done = await waitFor(async () => {
      const current = await openai.batches.retrieve(batch.id).catch(() => undefined);
      return current?.status === "completed" ? current : undefined;
    }, { what: "the batch to complete after the outage" });
    expect(done.request_counts).toEqual({ total: 3, completed: 3, failed: 0 });
    const output = (await (await openai.files.content(done.output_file_id ?? "")).text()).trim().split("\n");
    expect(output.map((line) => (JSON.parse(line) as { custom_id: string }).custom_id)).toEqual(["slow-1", "slow-2", "slow-3"]);
    expect(["slow-1", "slow-2", "slow-3"].map((key) => upstream.countsByKey.get(key))).toEqual([1, 1, 1]);
    expect((await geminiGet("/v1beta/batches")).status).toBe(200);
    expect(await (await fetch(`${spool.url}/ready`)).json()).toEqual({ status: "ready", store: "ok", models: [{ model: "gpt-test", state: "ready" }] });
    expect(log.errors()).toHaveLength(1);
    expect(log.lines.filter((line) => line.msg === "the database is reachable again")).toHaveLength(1);
  });
});
