/**
 * Bodies over a limit reach the client as a 413, never as a reset connection: spool answers while the
 * client is still sending, then reads and drops the rest instead of closing under it. Run against a
 * spool in its own process, where the race showed (1 to 7 of 10 SDK calls failed with EPIPE).
 */
import OpenAI from "openai";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { makeDataDir, writeConfigFile } from "../helpers/spool-app.ts";
import { startSpoolProcess, type SpoolProcess } from "../helpers/spool-process.ts";

let spool: SpoolProcess;
let url: string;

beforeAll(async () => {
  const dataDir = makeDataDir("body-limit");
  const configPath = writeConfigFile(dataDir, {
    port: 0,
    dataDir,
    models: [{ name: "gpt-test", engine: "openai", baseUrl: "http://127.0.0.1:9/v1" }],
    limits: { maxGeminiUploadBytes: 1024 * 1024 },
  });
  spool = await startSpoolProcess({ configPath, args: ["--no-workers"] });
  url = spool.url ?? "";
});

afterAll(() => spool?.kill("SIGKILL"));

function outcome(error: unknown): string {
  if (error instanceof OpenAI.APIError && error.status !== undefined) return String(error.status);
  const cause = (error as { cause?: { code?: string; cause?: { code?: string } } }).cause;
  return `connection error (${cause?.code ?? cause?.cause?.code ?? String(error)})`;
}

describe("bodies over the limit", () => {
  it("answers a too-large sync body with 413 ten times out of ten through the openai SDK", { timeout: 60_000 }, async () => {
    const client = new OpenAI({ apiKey: "sk-test", baseURL: `${url}/v1`, maxRetries: 0 });
    const content = "x".repeat(40 * 1024 * 1024);
    const outcomes: string[] = [];
    for (let i = 0; i < 10; i += 1) {
      const error = await client.chat.completions.create({ model: "gpt-test", messages: [{ role: "user", content }] }).catch((caught: unknown) => caught);
      outcomes.push(outcome(error));
    }
    expect(outcomes).toEqual(Array.from({ length: 10 }, () => "413"));
  });

  it("answers a Gemini upload over the limit with 413 in Google's envelope, five times out of five", { timeout: 60_000 }, async () => {
    const body = new Uint8Array(16 * 1024 * 1024);
    const statuses: number[] = [];
    for (let i = 0; i < 5; i += 1) {
      const response = await fetch(`${url}/upload/v1beta/files`, { method: "POST", headers: { "content-type": "application/jsonl" }, body });
      statuses.push(response.status);
      expect(await response.json()).toMatchObject({ error: { code: 413, status: "INVALID_ARGUMENT" } });
    }
    expect(statuses).toEqual([413, 413, 413, 413, 413]);
    expect(((await (await fetch(`${url}/v1beta/files`)).json()) as { files: unknown[] }).files).toEqual([]);
  });
});
