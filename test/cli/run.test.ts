/**
 * `spool run` as users run it: the real CLI in a child process (stdin closed, stdout/stderr piped, so
 * progress is in its plain-line form), against the fake OpenAI upstream in this process, or with no
 * config on the built-in demo model.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { chatFile, chatLine } from "../helpers/batch-files.ts";
import { startFakeOpenAIUpstream, type FakeOpenAIUpstream } from "../helpers/fake-openai-upstream.ts";
import { writeConfigFile } from "../helpers/spool-app.ts";
import { testWorkDir } from "../helpers/test-dirs.ts";
import { waitFor } from "../helpers/wait-for.ts";

const BIN = path.join(process.cwd(), "bin", "spool.js");
/** No SPOOL_* setting of the machine running the tests leaks into the child. */
const CLEAN_ENV = { SPOOL_CONFIG: "", SPOOL_DATA_DIR: "", SPOOL_DATABASE_URL: "", SPOOL_LOG_LEVEL: "" };

interface RunningCli {
  child: ChildProcess;
  stdout(): string;
  stderr(): string;
  exited: Promise<number | string>;
}

let upstream: FakeOpenAIUpstream | null = null;
const children: ChildProcess[] = [];

afterEach(async () => {
  for (const child of children.splice(0)) child.kill("SIGKILL");
  await upstream?.close();
  upstream = null;
});

function startRun(args: string[], env: Record<string, string> = {}): RunningCli {
  const child = spawn(process.execPath, [BIN, "run", ...args], { env: { ...process.env, ...CLEAN_ENV, ...env }, stdio: ["ignore", "pipe", "pipe"] });
  children.push(child);
  let stdout = "";
  let stderr = "";
  child.stdout?.on("data", (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr?.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
  const exited = new Promise<number | string>((resolve) => child.on("exit", (code, signal) => resolve(code ?? signal ?? -1)));
  return { child, stdout: () => stdout, stderr: () => stderr, exited };
}

async function runToEnd(args: string[], env: Record<string, string> = {}): Promise<{ code: number | string; stdout: string; stderr: string }> {
  const run = startRun(args, env);
  const code = await run.exited;
  return { code, stdout: run.stdout(), stderr: run.stderr() };
}

/** A work dir with a config routing `gpt-test` to the fake upstream. */
async function setUp(testName: string, options: { concurrency?: number } = {}) {
  upstream = await startFakeOpenAIUpstream();
  const dir = testWorkDir("cli-run", testName);
  const configPath = writeConfigFile(dir, {
    dataDir: path.join(dir, "data"),
    models: [{ name: "gpt-test", engine: "openai", baseUrl: upstream.url, concurrency: options.concurrency ?? 8, maxRetries: 0 }],
    worker: { sweepMs: 100, pollMs: 100 },
  });
  return { dir, configPath, upstream, input: path.join(dir, "requests.jsonl"), output: path.join(dir, "results.jsonl") };
}

interface OpenAIResultLine {
  custom_id: string;
  response: { status_code: number; body: { model?: string; choices?: { message: { content: string } }[] } } | null;
  error: unknown;
}

function escape(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}

function readResults(file: string): OpenAIResultLine[] {
  return readFileSync(file, "utf8").trimEnd().split("\n").map((line) => JSON.parse(line) as OpenAIResultLine);
}

describe("spool run", () => {
  it("writes one result line per request in input order, failed requests included, and exits 0", async () => {
    const { configPath, input, output, upstream } = await setUp("in order");
    writeFileSync(input, chatFile(25, { model: "gpt-test" }));
    upstream.setFault(({ key }) => (key === "prompt 3" ? { status: 400 } : undefined));

    const { code, stdout, stderr } = await runToEnd(["-i", input, "-o", output, "--config", configPath, "--progress-interval", "0.2"]);
    expect({ code, stderr }).toMatchObject({ code: 0 });
    const results = readResults(output);
    expect(results.map((line) => line.custom_id)).toEqual(Array.from({ length: 25 }, (_, i) => `req-${i}`));
    expect(results[3]?.response?.status_code).toBe(400);
    for (const [i, line] of results.entries()) {
      if (i === 3) continue;
      expect(line.response?.status_code).toBe(200);
      expect(line.response?.body.choices?.[0]?.message.content).toBe(`echo: prompt ${i}`);
    }
    expect(stdout).toMatch(/completed: 24 succeeded, 1 failed of 25 requests/);
    expect(stdout).toContain(`Wrote 25 result lines to ${output} (1 of them errors).`);
    expect(stderr).toMatch(/^progress: (validating|\d+\/25 \()/m);
    expect(existsSync(`${output}.spool`)).toBe(false); // the default work dir goes once the output is written
  });

  it("prints every bad line with its line number, runs nothing and exits 1", async () => {
    const { configPath, input, output, upstream } = await setUp("bad lines");
    const lines = [
      chatLine("a", "one", "gpt-test"),
      "{not json",
      chatLine("c", "three", "gpt-test"),
      JSON.stringify({ method: "POST", url: "/v1/chat/completions", body: { model: "gpt-test", messages: [] } }),
      chatLine("e", "five", "no-such-model"),
    ];
    writeFileSync(input, `${lines.join("\n")}\n`);

    const { code, stdout } = await runToEnd(["-i", input, "-o", output, "--config", configPath]);
    expect(code).toBe(1);
    expect(stdout).toMatch(/^line 2: invalid_json_line: /m);
    expect(stdout).toMatch(/^line 4: missing_required_parameter \(custom_id\): /m);
    expect(stdout).toMatch(/^line 5: model_not_found \(body\.model\): .*Configured models: gpt-test/m);
    expect(stdout).not.toMatch(/^line [13]:/m);
    expect(stdout).toContain("nothing was run");
    expect(existsSync(output)).toBe(false);

    writeFileSync(input, `${JSON.stringify({ custom_id: "a", method: "POST", url: "/v1/images/generations", body: { model: "gpt-test", prompt: "a cat" } })}\n`);
    const unsupported = await runToEnd(["-i", input, "-o", output, "--config", configPath]);
    expect(unsupported.code).toBe(1);
    expect(unsupported.stdout).toContain("the first request's url is '/v1/images/generations'; spool runs batches for /v1/chat/completions, /v1/responses");
    expect(upstream.requests).toBe(0);
  }, 120_000);

  it("answers usage errors with exit code 2", async () => {
    const { configPath, input, output } = await setUp("usage");
    writeFileSync(input, chatFile(2, { model: "gpt-test" }));
    const missingOutput = await runToEnd(["-i", input, "--config", configPath]);
    expect(missingOutput.code).toBe(2);
    expect(missingOutput.stderr).toContain("-o/--output <file> is required");
    const unknownModel = await runToEnd(["-i", input, "-o", output, "--config", configPath, "--model", "nope"]);
    expect(unknownModel.code).toBe(2);
    expect(unknownModel.stderr).toContain("Model 'nope' is not configured. Configured models: gpt-test.");
    const unknownFlag = await runToEnd(["-i", input, "-o", output, "--bogus"]);
    expect(unknownFlag.code).toBe(2);
  }, 120_000);

  it("runs every request on --model whatever model the lines name", async () => {
    const { configPath, input, output, upstream } = await setUp("model override");
    writeFileSync(input, chatFile(3, { model: "some-hosted-model" }));
    const { code } = await runToEnd(["-i", input, "-o", output, "--config", configPath, "--model", "gpt-test"]);
    expect(code).toBe(0);
    const results = readResults(output);
    expect(results.map((line) => [line.custom_id, line.response?.status_code, line.response?.body.model])).toEqual([
      ["req-0", 200, "gpt-test"],
      ["req-1", 200, "gpt-test"],
      ["req-2", 200, "gpt-test"],
    ]);
    expect(upstream.requests).toBe(3);
  });

  it("continues the same batch after being killed, without sending finished requests again", async () => {
    const concurrency = 4;
    const count = 120;
    const { configPath, input, output, upstream } = await setUp("resume", { concurrency });
    writeFileSync(input, chatFile(count, { model: "gpt-test" }));
    upstream.setFault(() => ({ delayMs: 50 }));

    const first = startRun(["-i", input, "-o", output, "--config", configPath, "--progress-interval", "0.2"]);
    await waitFor(() => upstream.requests >= 40, { timeoutMs: 30_000, what: "40 upstream requests" });
    first.child.kill("SIGKILL");
    expect(await first.exited).toBe("SIGKILL");
    expect(first.stderr()).toMatch(/^progress: \d+\/120 \(/m);
    const sentBeforeKill = upstream.requests;
    expect(existsSync(output)).toBe(false);

    const second = await runToEnd(["-i", input, "-o", output, "--config", configPath]);
    expect({ code: second.code, stderr: second.stderr }).toMatchObject({ code: 0 });
    expect(second.stderr).toMatch(/Resuming batch batch_\w+: \d+ of 120 requests already done/);
    expect(second.stdout).toMatch(/done by an earlier run/);
    const results = readResults(output);
    expect(results.map((line) => line.custom_id)).toEqual(Array.from({ length: count }, (_, i) => `req-${i}`));
    expect(results.every((line) => line.response?.status_code === 200)).toBe(true);

    // Each request reached the upstream once, except those in flight at the kill (answered or not, their
    // results were not recorded yet): at most one claim round of the lane (twice the concurrency).
    const counts = [...upstream.countsByKey.values()];
    expect(upstream.countsByKey.size).toBe(count);
    expect(counts.every((n) => n === 1 || n === 2)).toBe(true);
    const sentTwice = counts.filter((n) => n === 2).length;
    expect(sentTwice).toBeLessThanOrEqual(2 * concurrency);
    expect(upstream.requests).toBe(count + sentTwice);
    expect(sentBeforeKill - sentTwice).toBeGreaterThan(0);
  }, 120_000);

  it("refuses to start another input over an interrupted run with the same output, in one line with exit code 2", async () => {
    const { configPath, input, output, upstream, dir } = await setUp("other input");
    writeFileSync(input, chatFile(60, { model: "gpt-test" }));
    upstream.setFault(() => ({ delayMs: 50 }));
    const first = startRun(["-i", input, "-o", output, "--config", configPath]);
    await waitFor(() => upstream.requests >= 8, { timeoutMs: 30_000, what: "8 upstream requests" });
    first.child.kill("SIGKILL");
    await first.exited;

    const other = path.join(dir, "other.jsonl");
    writeFileSync(other, chatFile(2, { model: "gpt-test" }));
    const refused = await runToEnd(["-i", other, "-o", output, "--config", configPath]);
    expect(refused.code).toBe(2);
    const workDir = `${output}.spool`;
    expect(refused.stderr).toMatch(
      new RegExp(`^spool run: ${escape(workDir)} holds an interrupted run of ${escape(input)} \\(batch batch_\\w+, \\d+ of 60 requests done\\); run with -i ${escape(input)} to continue it, or delete ${escape(workDir)} \\(or choose another -o or -d\\) to start over\\.\n$`),
    );
    expect(existsSync(output)).toBe(false);

    // The interrupted run is intact: its own input continues it.
    upstream.setFault(() => ({}));
    const resumed = await runToEnd(["-i", input, "-o", output, "--config", configPath]);
    expect({ code: resumed.code, stderr: resumed.stderr }).toMatchObject({ code: 0, stderr: expect.stringMatching(/Resuming batch batch_\w+: \d+ of 60 requests already done/) });
    expect(readResults(output)).toHaveLength(60);
  }, 120_000);

  it("runs a Gemini file on --model, reporting a bad line in its place and running the rest", async () => {
    const { configPath, input, output, upstream } = await setUp("gemini");
    const line = (key: string, text: string) => JSON.stringify({ key, request: { contents: [{ role: "user", parts: [{ text }] }] } });
    writeFileSync(input, `${[line("k0", "zero"), JSON.stringify({ key: "k1", request: { contents: "not a list" } }), line("k2", "two")].join("\n")}\n`);

    const withoutModel = await runToEnd(["-i", input, "-o", output, "--config", configPath]);
    expect(withoutModel.code).toBe(2);
    expect(withoutModel.stderr).toContain("pass --model NAME");

    const { code, stdout, stderr } = await runToEnd(["-i", input, "-o", output, "--config", configPath, "--model", "gpt-test"]);
    expect({ code, stderr }).toMatchObject({ code: 0 });
    expect(stdout).toMatch(/^skipped line 2: /m);
    const results = readFileSync(output, "utf8").trimEnd().split("\n").map((text) => JSON.parse(text) as { key: string; response?: { candidates: unknown[] }; error?: { code: number } });
    expect(results.map((result) => result.key)).toEqual(["k0", "k1", "k2"]);
    expect(results[0]?.response?.candidates).toHaveLength(1);
    expect(results[1]?.error?.code).toBe(3); // INVALID_ARGUMENT
    expect(results[2]?.response?.candidates).toHaveLength(1);
    expect(upstream.requests).toBe(2);
  }, 120_000);

  it("runs a chat file with no config on the built-in demo model", async () => {
    const dir = testWorkDir("cli-run", "demo model");
    const input = path.join(dir, "chat.jsonl");
    const output = path.join(dir, "out.jsonl");
    const lines = ["Hello", "Name a colour", "Count to three"].map((text, i) => chatLine(`demo-${i}`, text, "gpt-4o-mini", { max_tokens: 8 }));
    writeFileSync(input, `${lines.join("\n")}\n`);

    const { code, stdout, stderr } = await runToEnd(["-i", input, "-o", output]);
    expect({ code, stderr }).toMatchObject({ code: 0 });
    expect(stderr).toContain("No config: every request runs on the built-in demo model 'spool-demo' (random weights, gibberish output). Use --config for real models.\n");
    expect(stderr.match(/demo model/g)).toHaveLength(1);
    expect(stdout).toMatch(/completed: 3 succeeded, 0 failed of 3 requests/);
    expect(stdout).toContain(`Wrote 3 result lines to ${output}.`);
    const results = readResults(output);
    expect(results.map((line) => line.custom_id)).toEqual(["demo-0", "demo-1", "demo-2"]);
    for (const line of results) {
      expect(line.response?.status_code).toBe(200);
      expect(line.response?.body.model).toBe("spool-demo");
      expect(line.response?.body.choices).toHaveLength(1);
    }
  }, 120_000);
});
