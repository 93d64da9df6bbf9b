/**
 * A full disk under a running spool (SQLite + local files on a small tmpfs), seen through the real SDKs
 * (issue 9, item 1). Before the fix `POST /v1/batches` answered 200 with an id that 404ed forever; now
 * uploads and batch creates of both dialects answer 507 in their own envelope, naming insufficient
 * storage, with one error line in the log per failure; nothing accepted before is lost; and once space is
 * back the same process accepts and runs work again.
 */
import { writeFileSync } from "node:fs";
import path from "node:path";
import { ApiError, GoogleGenAI } from "@google/genai";
import OpenAI, { toFile } from "openai";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { chatLine } from "../helpers/batch-files.ts";
import { startFakeOpenAIUpstream, type FakeOpenAIUpstream } from "../helpers/fake-openai-upstream.ts";
import { captureLog } from "../helpers/log-capture.ts";
import { startTestApp, type TestApp } from "../helpers/spool-app.ts";
import { testWorkDir } from "../helpers/test-dirs.ts";
import { mountTinyFilesystem, tinyFilesystemUnavailableReason, type TinyFilesystem } from "../helpers/tiny-filesystem.ts";
import { waitFor } from "../helpers/wait-for.ts";

const noTmpfs = tinyFilesystemUnavailableReason();
const log = captureLog();
const scratch = testWorkDir("scratch", "full disk api");
let disk: TinyFilesystem;
let upstream: FakeOpenAIUpstream;
let spool: TestApp;
let openai: OpenAI;
let gemini: GoogleGenAI;

beforeAll(async () => {
  if (noTmpfs !== null) return;
  disk = mountTinyFilesystem("full disk api", 8 * 1024 * 1024);
  upstream = await startFakeOpenAIUpstream();
  spool = await startTestApp(
    { models: [{ name: "gpt-test", engine: "openai", baseUrl: upstream.url, concurrency: 4, maxRetries: 0 }], worker: { leaseMs: 5_000, sweepMs: 50, pollMs: 50, shutdownGraceMs: 100 } },
    { dataDir: disk.dir, logger: log.logger },
  );
  openai = new OpenAI({ apiKey: "sk-test", baseURL: spool.openaiBaseUrl, maxRetries: 0 });
  gemini = new GoogleGenAI({ apiKey: "g-test", httpOptions: { baseUrl: spool.url } });
});

afterAll(async () => {
  await spool?.stop();
  await upstream?.close();
  disk?.unmount();
});

const jsonl = (...lines: string[]): string => `${lines.join("\n")}\n`;
const geminiLine = (key: string, text: string): string => JSON.stringify({ key, request: { contents: [{ role: "user", parts: [{ text }] }] } });

async function finishedOpenAI(id: string): Promise<OpenAI.Batch> {
  return waitFor(async () => {
    const batch = await openai.batches.retrieve(id);
    return ["completed", "failed", "expired", "cancelled"].includes(batch.status) ? batch : undefined;
  }, { what: `batch ${id}` });
}

async function geminiUpload(name: string, content: string, fileName?: string): Promise<string> {
  const target = path.join(scratch, name);
  writeFileSync(target, content);
  const file = await gemini.files.upload({ file: target, config: { mimeType: "jsonl", displayName: name, name: fileName } });
  return file.name ?? "";
}

async function rest(pathAndQuery: string): Promise<{ status: number; body: { error?: { code?: number; status?: string; message?: string } } }> {
  const response = await fetch(`${spool.url}${pathAndQuery}`, { headers: { "x-goog-api-key": "g-test" } });
  return { status: response.status, body: (await response.json()) as { error?: { code?: number; status?: string; message?: string } } };
}

function expectOpenAIInsufficientStorage(error: unknown): void {
  expect(error).toBeInstanceOf(OpenAI.APIError);
  const apiError = error as InstanceType<typeof OpenAI.APIError>;
  expect(apiError.status).toBe(507);
  expect(apiError.code).toBe("insufficient_storage");
  expect(apiError.type).toBe("server_error");
  expect(apiError.message).toMatch(/insufficient storage/i);
}

describe.skipIf(noTmpfs !== null)("a full disk under a running spool", () => {
  it("answers 507 to uploads and batch creates of both dialects, loses nothing, and recovers when space is back", async () => {
    // Accepted before the disk fills: a finished OpenAI batch and an uploaded Gemini file.
    const input = await openai.files.create({ file: await toFile(Buffer.from(jsonl(chatLine("before-1", "one"), chatLine("before-2", "two"))), "before.jsonl"), purpose: "batch" });
    const before = await finishedOpenAI((await openai.batches.create({ input_file_id: input.id, endpoint: "/v1/chat/completions", completion_window: "24h" })).id);
    expect(before.status).toBe("completed");
    const outputBefore = await (await openai.files.content(before.output_file_id ?? "")).text();
    const geminiInput = await geminiUpload("gemini-before.jsonl", jsonl(geminiLine("g-1", "hello")));
    const batchesBefore = (await openai.batches.list()).data.map((batch) => batch.id);

    disk.fill();

    // OpenAI: the upload's bytes cannot be written; the batch's row cannot be committed.
    expectOpenAIInsufficientStorage(await openai.files.create({ file: await toFile(Buffer.from(jsonl(chatLine("x", "y"))), "full.jsonl"), purpose: "batch" }).catch((error: unknown) => error));
    expectOpenAIInsufficientStorage(await openai.batches.create({ input_file_id: input.id, endpoint: "/v1/chat/completions", completion_window: "24h" }).catch((error: unknown) => error));
    // Gemini: a batch over an uploaded file, an inline batch, and an upload under a chosen name.
    for (const create of [
      () => gemini.batches.create({ model: "gpt-test", src: geminiInput }),
      () => gemini.batches.create({ model: "gpt-test", src: [{ contents: "inline" }] }),
    ]) {
      const error = await create().catch((caught: unknown) => caught);
      expect(error).toBeInstanceOf(ApiError);
      expect((error as ApiError).status).toBe(507);
      expect(JSON.parse((error as ApiError).message)).toMatchObject({ error: { code: 507, status: "RESOURCE_EXHAUSTED", message: expect.stringMatching(/insufficient storage/i) } });
    }
    const upload = await geminiUpload("gemini-full.jsonl", jsonl(geminiLine("g-2", "x".repeat(64 * 1024))), "files/full-disk-upload").catch((caught: unknown) => caught);
    expect(upload).toBeInstanceOf(ApiError);
    expect((upload as ApiError).status).toBe(507);
    expect((await rest("/v1beta/files/full-disk-upload")).status).toBe(404);

    // Nothing failed was kept, nothing accepted was lost, and the process answers reads throughout.
    expect((await openai.batches.list()).data.map((batch) => batch.id)).toEqual(batchesBefore);
    expect(await (await openai.files.content(before.output_file_id ?? "")).text()).toBe(outputBefore);
    expect((await rest("/v1beta/batches")).status).toBe(200);
    // One error line per failed request (two uploads and one inline batch hit the files, two creates the database).
    const failures = log.errors(/is full/);
    expect(failures).toHaveLength(5);
    expect(failures.every((line) => typeof line.db === "string" || typeof line.path === "string")).toBe(true);
    expect(log.errors(/unexpectedly/)).toEqual([]);

    disk.free();
    const again = await openai.files.create({ file: await toFile(Buffer.from(jsonl(chatLine("after-1", "three"))), "after.jsonl"), purpose: "batch" });
    const after = await finishedOpenAI((await openai.batches.create({ input_file_id: again.id, endpoint: "/v1/chat/completions", completion_window: "24h" })).id);
    expect(after).toMatchObject({ status: "completed", request_counts: { total: 1, completed: 1, failed: 0 } });
    const geminiAfter = await gemini.batches.create({ model: "gpt-test", src: [{ contents: "inline after" }] });
    const done = await waitFor(async () => {
      const job = await gemini.batches.get({ name: geminiAfter.name ?? "" });
      return job.state === "JOB_STATE_SUCCEEDED" ? job : undefined;
    }, { what: "the Gemini batch after space came back" });
    expect(done.dest?.inlinedResponses).toHaveLength(1);
    expect((await openai.batches.retrieve(before.id)).status).toBe("completed");
  });
});
