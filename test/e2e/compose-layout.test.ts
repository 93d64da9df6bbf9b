/**
 * The deployment in deploy/compose.yaml, run without Docker (these machines have no daemon): PostgreSQL plus
 * the API service and the worker service's replicas, each started as `node bin/spool.js <command>` with the
 * service's own command and environment, read from the compose file. Only what must differ outside a
 * container is swapped: the database URL (the test server, a fresh schema), host and port (loopback, any
 * free port), the data dir (one per process, like a container's volume) and the mounted config file (its
 * source in deploy/). A batch then runs through the API on the workers.
 */
import { readFileSync } from "node:fs";
import path from "node:path";
import OpenAI, { toFile } from "openai";
import { afterAll, describe, expect, it } from "vitest";
import { parse } from "yaml";
import { postgresUnavailableReason, TEST_DATABASE_URL, testSchemaName } from "../helpers/postgres.ts";
import { makeDataDir } from "../helpers/spool-app.ts";
import { startSpoolProcess, type SpoolProcess } from "../helpers/spool-process.ts";
import { waitFor } from "../helpers/wait-for.ts";

interface Service {
  command: string[];
  environment: Record<string, string>;
  volumes?: string[];
  deploy?: { replicas?: number };
}

const available = (await postgresUnavailableReason()) === null;
const COMPOSE = path.join(process.cwd(), "deploy", "compose.yaml");
const processes: SpoolProcess[] = [];

afterAll(() => {
  for (const proc of processes) proc.kill("SIGKILL");
});

/** The service's environment with what only makes sense inside the compose network swapped for local values. */
function localEnv(service: Service, databaseUrl: string, label: string): Record<string, string> {
  const mounts = new Map((service.volumes ?? []).map((volume) => volume.split(":")).map(([source, target]) => [target ?? "", source ?? ""]));
  const env: Record<string, string> = {};
  for (const [name, value] of Object.entries(service.environment)) {
    if (name === "SPOOL_DATABASE_URL") {
      expect(value).toMatch(/^postgres:\/\/\w+:\w+@postgres:5432\/\w+$/);
      env[name] = databaseUrl;
    } else if (name === "SPOOL_HOST") env[name] = "127.0.0.1";
    else if (name === "SPOOL_PORT") env[name] = "0";
    else if (name === "SPOOL_DATA_DIR") env[name] = makeDataDir(label);
    else if (name === "SPOOL_CONFIG") env[name] = path.resolve(path.dirname(COMPOSE), mounts.get(value) ?? "");
    else throw new Error(`deploy/compose.yaml sets ${name}: teach this test what it means outside a container`);
  }
  return env;
}

describe.skipIf(!available)("the compose layout (PostgreSQL + 1 API + 2 workers)", () => {
  it("runs a batch through the API process on the worker processes", async () => {
    const compose = parse(readFileSync(COMPOSE, "utf8")) as { services: Record<string, Service> };
    const { api, worker } = compose.services;
    if (!api || !worker) throw new Error("deploy/compose.yaml must have the services api and worker");
    expect(api.command).toEqual(["serve", "--no-workers", "--insecure-no-auth"]);
    expect(worker.command).toEqual(["worker"]);
    expect(worker.deploy?.replicas).toBe(2);

    const url = new URL(TEST_DATABASE_URL);
    url.searchParams.set("schema", testSchemaName("compose-layout"));
    const start = async (service: Service, label: string) => {
      const [command, ...args] = service.command;
      const proc = await startSpoolProcess({ command: command as "serve" | "worker", args, env: localEnv(service, url.toString(), label), readyTimeoutMs: 60_000 });
      processes.push(proc);
      return proc;
    };
    const apiProcess = await start(api, "compose-api");
    for (let i = 0; i < (worker.deploy?.replicas ?? 1); i += 1) await start(worker, `compose-worker-${i}`);

    const client = new OpenAI({ apiKey: "unused", baseURL: `${apiProcess.url}/v1`, maxRetries: 0 });
    const lines = Array.from({ length: 12 }, (_, i) =>
      JSON.stringify({ custom_id: `c-${i}`, method: "POST", url: "/v1/chat/completions", body: { model: "spool-demo", messages: [{ role: "user", content: `question ${i}` }], max_tokens: 8 } }),
    );
    const file = await client.files.create({ file: await toFile(Buffer.from(lines.join("\n")), "compose.jsonl"), purpose: "batch" });
    const batch = await client.batches.create({ input_file_id: file.id, endpoint: "/v1/chat/completions", completion_window: "24h" });
    const done = await waitFor(async () => {
      const current = await client.batches.retrieve(batch.id);
      return ["completed", "failed", "expired", "cancelled"].includes(current.status) ? current : undefined;
    }, { timeoutMs: 120_000, intervalMs: 250, what: "the batch to finish on the workers" });
    expect(done.status).toBe("completed");
    expect(done.request_counts).toEqual({ total: 12, completed: 12, failed: 0 });
    const output = (await (await client.files.content(done.output_file_id ?? "")).text()).trim().split("\n");
    expect(output.map((line) => (JSON.parse(line) as { custom_id: string }).custom_id)).toEqual(lines.map((_, i) => `c-${i}`));
    // The API process runs no workers: the results came from the worker processes.
    expect(apiProcess.output()).toContain('"workers":false');
  }, 180_000);
});
