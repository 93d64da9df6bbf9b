/**
 * What an operator reads in the log (issue 14): one structured line per Batch transition and per failed
 * attempt of an Item (reason, status code, attempt), the request id on every HTTP line; and the pretty
 * format for people at a terminal.
 */
import OpenAI, { toFile } from "openai";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { formatLogLine } from "../../src/observability/pretty-log.ts";
import { chatLine } from "../helpers/batch-files.ts";
import { startFakeOpenAIUpstream, type FakeOpenAIUpstream } from "../helpers/fake-openai-upstream.ts";
import { captureLog, type CapturedLog } from "../helpers/log-capture.ts";
import { startTestApp, type TestApp } from "../helpers/spool-app.ts";
import { waitFor } from "../helpers/wait-for.ts";

let upstream: FakeOpenAIUpstream;
let spool: TestApp;
let log: CapturedLog;

beforeAll(async () => {
  upstream = await startFakeOpenAIUpstream();
  upstream.setFault(({ key, attemptForKey }) => (key === "reject" ? { status: 422 } : key === "flaky" && attemptForKey === 1 ? { status: 503 } : undefined));
  log = captureLog("debug");
  spool = await startTestApp({ models: [{ name: "gpt-test", engine: "openai", baseUrl: upstream.url, maxRetries: 1 }], worker: { sweepMs: 100 } }, { label: "operator-logs", logger: log.logger });
});

afterAll(async () => {
  await spool?.stop();
  await upstream?.close();
});

describe("operator logs", () => {
  it("logs every batch transition, every failed try and the item that failed, with the request id on HTTP lines", async () => {
    const client = new OpenAI({ apiKey: "sk-test", baseURL: spool.openaiBaseUrl, maxRetries: 0 });
    const content = [chatLine("ok", "fine"), chatLine("bad", "reject"), chatLine("retried", "flaky")].join("\n");
    const file = await client.files.create({ file: await toFile(Buffer.from(content), "batch.jsonl"), purpose: "batch" });
    const batch = await client.batches.create({ input_file_id: file.id, endpoint: "/v1/chat/completions", completion_window: "24h" });
    await waitFor(() => log.lines.some((line) => line.msg === "batch status changed" && line.batchId === batch.id && line.status === "completed"), { what: "the completed transition in the log" });

    const transitions = log.lines.filter((line) => line.batchId === batch.id && (line.msg === "batch status changed" || line.msg === "batch created"));
    expect(transitions.map((line) => [line.msg, line.from ?? null, line.status])).toEqual([
      ["batch created", null, "validating"],
      ["batch status changed", "validating", "in_progress"],
      ["batch status changed", "finalizing", "completed"],
    ]);
    expect(transitions.at(-1)).toMatchObject({ total: 3, succeeded: 2, failed: 1, dialect: "openai" });

    const retried = log.lines.filter((line) => line.msg === "request failed; retrying");
    expect(retried).toEqual([expect.objectContaining({ model: "gpt-test", retry: 1, reason: "http", statusCode: 503 })]);
    const failed = log.lines.filter((line) => line.msg === "item failed");
    expect(failed).toEqual([expect.objectContaining({ batchId: batch.id, index: 1, attempt: 1, reason: "http_422", statusCode: 422, model: "gpt-test" })]);

    const http = log.lines.filter((line) => line.msg === "request");
    expect(http.map((line) => [line.level, line.method, line.path, line.status])).toEqual([
      [30, "POST", "/v1/files", 200],
      [30, "POST", "/v1/batches", 200],
    ]);
    for (const line of http) expect(line).toMatchObject({ reqId: expect.stringMatching(/^req_/), ms: expect.any(Number) });
  });

  it("prints pretty lines: time, level, message, then the fields", () => {
    const line = JSON.stringify({ level: 30, time: Date.UTC(2026, 0, 1, 12, 0, 0), pid: 1, hostname: "h", msg: "batch status changed", batchId: "batch_x", status: "completed", note: "two words" });
    expect(formatLogLine(line)).toMatch(/^\d\d:\d\d:\d\d\.\d{3} INFO {2}batch status changed batchId=batch_x status=completed note="two words"$/);
    const error = JSON.stringify({ level: 50, time: 0, msg: "failed", err: { message: "boom", stack: "Error: boom\n    at x" } });
    expect(formatLogLine(error)).toMatch(/ERROR failed error=boom\nError: boom\n {4}at x$/);
    expect(formatLogLine("not json")).toBe("not json");
    const access = JSON.stringify({ level: 30, time: 0, msg: "request", reqId: "req_a", method: "GET", path: "/v1beta/models?key=REDACTED", status: 200, ms: 1.5 });
    expect(formatLogLine(access)).toMatch(/^\d\d:\d\d:\d\d\.\d{3} INFO {2}GET \/v1beta\/models\?key=REDACTED 200 1\.5ms reqId=req_a$/);
  });
});
