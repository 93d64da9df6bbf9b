/**
 * `spool watch` and `spool batches` against a running spool, as a person runs them (the real CLI in a
 * child process): progress until the batch ends, then its outcome as one line and as the exit code, for
 * both dialects; the batch table; clear failures for an unknown batch, a missing key and no server.
 */
import { spawn } from "node:child_process";
import { createServer, type AddressInfo } from "node:net";
import path from "node:path";
import { GoogleGenAI } from "@google/genai";
import OpenAI, { toFile } from "openai";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { chatFile, chatLine } from "../helpers/batch-files.ts";
import { startFakeOpenAIUpstream, type FakeOpenAIUpstream } from "../helpers/fake-openai-upstream.ts";
import { startTestApp, type TestApp } from "../helpers/spool-app.ts";

const BIN = path.join(process.cwd(), "bin", "spool.js");
const KEY = "sk-watch";

let upstream: FakeOpenAIUpstream;
let spool: TestApp;
let client: OpenAI;

beforeAll(async () => {
  upstream = await startFakeOpenAIUpstream();
  upstream.setFault(({ key }) => (key.startsWith("reject") ? { status: 400 } : { delayMs: 30 }));
  spool = await startTestApp({ apiKeys: [KEY], models: [{ name: "gpt-test", engine: "openai", baseUrl: upstream.url, concurrency: 2, maxRetries: 0 }], worker: { sweepMs: 100 } }, { label: "cli-watch" });
  client = new OpenAI({ apiKey: KEY, baseURL: spool.openaiBaseUrl, maxRetries: 0 });
});

afterAll(async () => {
  await spool?.stop();
  await upstream?.close();
});

/** Runs the CLI asynchronously (the server runs in this process, so spawnSync would block it). */
function cli(args: string[], env: Record<string, string> = {}): Promise<{ status: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [BIN, ...args], { env: { ...process.env, SPOOL_API_KEY: KEY, ...env }, stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
    child.on("exit", (status) => resolve({ status, stdout, stderr }));
  });
}

/** A port nothing listens on (bound, then released). */
async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

async function createBatch(content: string) {
  const file = await client.files.create({ file: await toFile(Buffer.from(content), "batch.jsonl"), purpose: "batch" });
  return client.batches.create({ input_file_id: file.id, endpoint: "/v1/chat/completions", completion_window: "24h" });
}

describe("spool watch", () => {
  it("follows an OpenAI batch to its end with progress lines and exits 0 when every request succeeded", async () => {
    const batch = await createBatch(chatFile(20));
    const run = await cli(["watch", batch.id, "--url", spool.url, "--interval", "0.2"]);
    expect(run.status).toBe(0);
    expect(run.stdout.trim()).toMatch(new RegExp(`^${batch.id} completed in .+: 20 succeeded, 0 failed of 20 \\(output file-`));
    expect(run.stderr).toContain(`${batch.id} (openai, gpt-test)`);
    expect(run.stderr).toMatch(/progress: \d+\/20/);
  });

  it("exits 1 for a batch that completed with failed requests, and follows a Gemini batch by its name", async () => {
    const failing = await createBatch(`${[chatLine("a", "fine"), chatLine("b", "reject me")].join("\n")}\n`);
    const run = await cli(["watch", failing.id, "--url", spool.url, "--interval", "0.2"]);
    expect(run.status).toBe(1);
    expect(run.stdout).toContain("completed in");
    expect(run.stdout).toContain("1 succeeded, 1 failed of 2");

    const ai = new GoogleGenAI({ apiKey: KEY, httpOptions: { baseUrl: spool.url } });
    const job = await ai.batches.create({ model: "gpt-test", src: [{ contents: "one" }, { contents: "two" }] });
    const gemini = await cli(["watch", job.name ?? "", "--url", spool.url, "--interval", "0.2"]);
    expect(gemini.status).toBe(0);
    expect(gemini.stdout).toMatch(new RegExp(`^${job.name} completed in .+: 2 succeeded, 0 failed of 2`));
  });

  it("says what is wrong: an unknown batch or a missing key (exit 2), no server at the URL (exit 3)", async () => {
    const unknown = await cli(["watch", "batch_nope", "--url", spool.url]);
    expect(unknown.status).toBe(2);
    expect(unknown.stderr).toContain("No batch batch_nope.");
    const noKey = await cli(["watch", "batch_nope", "--url", spool.url], { SPOOL_API_KEY: "" });
    expect(noKey.status).toBe(2);
    expect(noKey.stderr).toMatch(/needs an API key: pass --api-key or set SPOOL_API_KEY/);
    const closedPort = await freePort();
    const noServer = await cli(["watch", "batch_nope", "--url", `http://127.0.0.1:${closedPort}`]);
    expect(noServer.status).toBe(3);
    expect(noServer.stderr).toContain(`cannot reach spool at http://127.0.0.1:${closedPort} (ECONNREFUSED)`);
  });
});

describe("spool batches", () => {
  it("lists recent batches newest first as a table", async () => {
    const batch = await createBatch(chatFile(2));
    const run = await cli(["batches", "--url", spool.url, "--limit", "3"]);
    expect(run.status).toBe(0);
    const lines = run.stdout.trim().split("\n");
    expect(lines[0]).toMatch(/^ID\s+DIALECT\s+MODEL\s+STATUS\s+DONE\s+FAILED\s+CREATED$/);
    expect(lines).toHaveLength(4);
    expect(lines[1]).toMatch(new RegExp(`^${batch.id}\\s+openai\\s+gpt-test\\s+\\w+`));
  });
});
