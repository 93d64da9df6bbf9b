/**
 * The README's examples run as written (issue 17): every file in examples/ is included verbatim in the README
 * (checked here, so they cannot drift), and each is run with plain `node` (or `sh`) against a real spool
 * process serving the demo model on llama.cpp. The demo model's text is gibberish, so the assertions are on
 * structure: statuses, ids, counts, dimensions.
 */
import { execFile } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";
import path from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { makeDataDir } from "../helpers/spool-app.ts";
import { startSpoolProcess, type SpoolProcess } from "../helpers/spool-process.ts";

const run = promisify(execFile);
const EXAMPLES = path.join(process.cwd(), "examples");
let proc: SpoolProcess;

beforeAll(async () => {
  proc = await startSpoolProcess({ args: ["--port", "0", "--data-dir", makeDataDir("examples")], env: { SPOOL_CONFIG: "", SPOOL_DATABASE_URL: "" }, readyTimeoutMs: 60_000 });
});

afterAll(() => {
  proc?.kill("SIGKILL");
});

/** Runs an example as a user would, with SPOOL_URL pointing at the test's server; returns its stdout lines. */
async function runExample(file: string, args: string[] = []): Promise<string[]> {
  const command = file.endsWith(".sh") ? "sh" : process.execPath;
  const { stdout } = await run(command, [path.join(EXAMPLES, file), ...args], { env: { ...process.env, SPOOL_URL: proc.url ?? "" }, timeout: 90_000 });
  return stdout.trim().split("\n");
}

describe("examples/", () => {
  it("are each included verbatim in the README, and every README include names an existing example", () => {
    const readme = readFileSync("README.md", "utf8");
    const included = new Map<string, string>();
    for (const match of readme.matchAll(/<!-- example: examples\/([^ ]+) -->\n```\w*\n([\s\S]*?)```\n/g)) included.set(match[1] ?? "", match[2] ?? "");
    const files = readdirSync(EXAMPLES).sort();
    expect([...included.keys()].sort()).toEqual(files);
    for (const file of files) expect(included.get(file), file).toBe(readFileSync(path.join(EXAMPLES, file), "utf8"));
  });

  it("openai-file-batch.mjs runs a chat batch through the OpenAI SDK and prints each result", async () => {
    const out = await runExample("openai-file-batch.mjs");
    expect(out[0]).toMatch(/^batch_\w+ completed \{ total: 3, completed: 3, failed: 0 \}$/);
    expect(out.slice(1).map((line) => line.split(" ").slice(0, 2).join(" "))).toEqual(["req-0 200", "req-1 200", "req-2 200"]);
  });

  it("gemini-file-batch.mjs runs a file batch through the Gemini SDK and downloads the results", async () => {
    const out = await runExample("gemini-file-batch.mjs");
    expect(out[0]).toMatch(/^batches\/batch_\w+ JOB_STATE_SUCCEEDED$/);
    expect(out.slice(1).map((line) => line.split(" ")[0])).toEqual(["req-0", "req-1"]);
    for (const line of out.slice(1)) expect(typeof JSON.parse(line.slice(line.indexOf(" ") + 1))).toBe("string");
  });

  it("gemini-embeddings-batch.mjs runs an embeddings batch with the asked dimensionality", async () => {
    const out = await runExample("gemini-embeddings-batch.mjs");
    expect(out[0]).toMatch(/JOB_STATE_SUCCEEDED$/);
    expect(out.slice(1)).toEqual(["doc-0 8 dimensions", "doc-1 8 dimensions", "doc-2 8 dimensions"]);
  });

  it("gemini-inline-batch.mjs gets inline results back in order with their metadata", async () => {
    const out = await runExample("gemini-inline-batch.mjs");
    expect(out[0]).toMatch(/JOB_STATE_SUCCEEDED$/);
    expect(out.slice(1).map((line) => line.split(" ")[0])).toEqual(["hello", "colour"]);
  });

  it("watch-progress.mjs prints progress until the batch completes", async () => {
    const out = (await runExample("watch-progress.mjs")).map((line) => JSON.parse(line) as { object: string; status: string; request_counts: { total: number; succeeded: number } });
    for (const progress of out) expect(progress.object).toBe("batch.progress");
    expect(out.at(-1)).toMatchObject({ status: "completed", request_counts: { total: 8, succeeded: 8 } });
  });

  it("partial-results.mjs prints every result exactly once", async () => {
    const out = await runExample("partial-results.mjs");
    expect(out).toEqual(Array.from({ length: 8 }, (_, i) => `result req-${i} 200`));
  });

  it("curl-walkthrough.sh uploads, creates, polls and downloads with curl alone", async () => {
    const out = await runExample("curl-walkthrough.sh");
    expect(out[0]).toMatch(/^file file-\w+$/);
    expect(out[1]).toMatch(/^batch batch_\w+$/);
    expect(out).toContain("status completed");
    const results = out.filter((line) => line.startsWith("{")).map((line) => JSON.parse(line) as { custom_id: string; response: { status_code: number } });
    expect(results.map((result) => [result.custom_id, result.response.status_code])).toEqual([["req-1", 200], ["req-2", 200]]);
  });
});
