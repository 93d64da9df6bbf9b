/**
 * What an operator's probes and eyes see of a running `spool serve` (issue 17): `/health` (alive) and `/ready`
 * (store reachable, models loaded; 503 with the reason otherwise), and one access line per HTTP request in
 * both log formats, with credentials in the query string redacted. Real processes, started as users start
 * them. (The store-unreachable side of `/ready` is in test/hardening/database-outage.test.ts.)
 */
import { writeFileSync } from "node:fs";
import path from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { makeDataDir, writeConfigFile } from "../helpers/spool-app.ts";
import { startSpoolProcess, type SpoolProcess } from "../helpers/spool-process.ts";
import { ensureTinyModel } from "../helpers/test-model.ts";
import { waitFor } from "../helpers/wait-for.ts";

const CLEAN_ENV = { SPOOL_CONFIG: "", SPOOL_DATA_DIR: "", SPOOL_DATABASE_URL: "", SPOOL_LOG_LEVEL: "", SPOOL_LOG_FORMAT: "" };
const KEY = "sk-very-secret-4711";
const processes: SpoolProcess[] = [];

afterEach(async () => {
  for (const spool of processes.splice(0)) {
    spool.kill("SIGKILL");
    await spool.exited;
  }
});

interface Readiness {
  status: string;
  reason?: string;
  store: string;
  models: { model: string; state: string; reason?: string }[];
}

async function readiness(url: string): Promise<{ status: number; body: Readiness }> {
  const response = await fetch(`${url}/ready`);
  return { status: response.status, body: (await response.json()) as Readiness };
}

describe("/health, /ready and the access log of spool serve", () => {
  it("loads llama-cpp models at start and answers /ready 503 naming the model that failed to load", async () => {
    const dir = makeDataDir("ready-broken-model");
    const broken = path.join(dir, "broken.gguf");
    writeFileSync(broken, "this is not a GGUF file");
    const config = writeConfigFile(dir, {
      dataDir: dir,
      apiKeys: [KEY],
      models: [
        { name: "tiny", engine: "llama-cpp", path: await ensureTinyModel() },
        { name: "broken", engine: "llama-cpp", path: broken },
      ],
    });
    const spool = await startSpoolProcess({ configPath: config, env: CLEAN_ENV, args: ["--port", "0"] });
    processes.push(spool);
    const url = spool.url ?? "";

    expect((await fetch(`${url}/health`)).status).toBe(200);
    const settled = await waitFor(async () => {
      const current = await readiness(url);
      return current.body.models.every((model) => model.state !== "loading") ? current : undefined;
    }, { what: "both models to finish loading", timeoutMs: 60_000 });
    expect(settled.status).toBe(503);
    expect(settled.body).toEqual({
      status: "not_ready",
      reason: expect.stringMatching(/^model 'broken' failed to load: Model 'broken' cannot be loaded: /),
      store: "ok",
      models: [
        { model: "tiny", state: "ready" },
        { model: "broken", state: "failed", reason: expect.stringMatching(/^Model 'broken' cannot be loaded: /) },
      ],
    });
    // The loaded model answers at once although the process as a whole is not ready.
    const chat = await fetch(`${url}/v1/chat/completions`, {
      method: "POST",
      headers: { authorization: `Bearer ${KEY}`, "content-type": "application/json" },
      body: JSON.stringify({ model: "tiny", max_tokens: 2, messages: [{ role: "user", content: "hi" }] }),
    });
    expect(chat.status).toBe(200);

    // The JSON access log: one line per request with method, path (key redacted), status, ms, request id.
    const listed = await fetch(`${url}/v1beta/models?pageSize=5&key=${KEY}`);
    expect(listed.status).toBe(200);
    const requestId = listed.headers.get("x-request-id");
    const refused = await fetch(`${url}/v1beta/models?key=wrong-key`);
    expect(refused.status).toBe(401);
    const accessLines = (): Record<string, unknown>[] =>
      spool
        .output()
        .split("\n")
        .filter((line) => line.includes('"msg":"request"'))
        .map((line) => JSON.parse(line) as Record<string, unknown>);
    await waitFor(() => accessLines().some((line) => line.status === 401), { what: "the access line of the refused request" });
    expect(accessLines().find((line) => line.reqId === requestId)).toEqual(
      expect.objectContaining({ level: 30, method: "GET", path: "/v1beta/models?pageSize=5&key=REDACTED", status: 200, ms: expect.any(Number) }),
    );
    expect(accessLines().map((line) => [line.method, line.path, line.status])).toEqual(
      expect.arrayContaining([
        ["GET", "/health", 200],
        ["GET", "/ready", 503],
        ["POST", "/v1/chat/completions", 200],
        ["GET", "/v1beta/models?key=REDACTED", 401],
      ]),
    );
    expect(spool.output()).not.toContain(KEY);
    expect(spool.output()).not.toContain("wrong-key");
  }, 120_000);

  it("answers /ready 200 once the demo model is loaded, and prints pretty access lines with --log-format pretty", async () => {
    const dir = makeDataDir("ready-demo-pretty");
    const spool = await startSpoolProcess({ env: CLEAN_ENV, args: ["--port", "0", "--data-dir", dir, "--log-format", "pretty"] });
    processes.push(spool);
    const url = spool.url ?? "";

    const ready = await waitFor(async () => {
      const current = await readiness(url);
      return current.status === 200 ? current : undefined;
    }, { what: "the demo model to load", timeoutMs: 60_000 });
    expect(ready.body).toEqual({ status: "ready", store: "ok", models: [{ model: "spool-demo", state: "ready" }] });

    const response = await fetch(`${url}/v1/models?key=${KEY}`);
    expect(response.status).toBe(200);
    const requestId = response.headers.get("x-request-id") ?? "";
    const line = await waitFor(() => spool.output().split("\n").find((each) => each.includes(requestId)), { what: "the pretty access line" });
    expect(line).toMatch(new RegExp(`^\\d\\d:\\d\\d:\\d\\d\\.\\d{3} INFO  GET /v1/models\\?key=REDACTED 200 [\\d.]+ms reqId=${requestId}$`));
    expect(spool.output()).toMatch(/INFO {2}GET \/ready 200 [\d.]+ms reqId=req_\w+$/m);
    expect(spool.output()).not.toContain(KEY);
  }, 120_000);
});
