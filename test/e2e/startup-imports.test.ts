/**
 * What a `spool serve` process loads (issue 11): node-llama-cpp (about 45 MB resident) only when a Model
 * runs on llama-cpp, and then at start, so a broken install still stops the process at once; `pg` only with
 * a database URL. Real processes, with a loader hook that records every module they resolve.
 */
import { existsSync, readFileSync } from "node:fs";
import path from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { makeDataDir, writeConfigFile } from "../helpers/spool-app.ts";
import { startSpoolProcess, type SpoolProcess } from "../helpers/spool-process.ts";
import { TEST_DATABASE_URL, freshTestSchema } from "../helpers/postgres.ts";
import { ensureTinyModel } from "../helpers/test-model.ts";

const CLEAN_ENV = { SPOOL_CONFIG: "", SPOOL_DATA_DIR: "", SPOOL_DATABASE_URL: "", SPOOL_LOG_LEVEL: "", SPOOL_LOG_FORMAT: "" };
const RECORDER = path.join(process.cwd(), "test", "helpers", "record-imports.mjs");
const processes: SpoolProcess[] = [];

afterEach(async () => {
  for (const spool of processes.splice(0)) {
    spool.kill("SIGKILL");
    await spool.exited;
  }
});

/** Starts `spool serve` on `config` and returns the packages (node_modules folders) it resolved by the time it listened. */
async function packagesLoadedAtStart(dir: string, config: Record<string, unknown>): Promise<Set<string>> {
  const importsFile = path.join(dir, "imports.txt");
  const spool = await startSpoolProcess({
    configPath: writeConfigFile(dir, { dataDir: dir, ...config }),
    env: { ...CLEAN_ENV, NODE_OPTIONS: `--import=${RECORDER}`, SPOOL_TEST_IMPORTS_FILE: importsFile },
    args: ["--port", "0"],
  });
  processes.push(spool);
  expect((await fetch(`${spool.url}/health`)).status).toBe(200);
  const urls = existsSync(importsFile) ? readFileSync(importsFile, "utf8").split("\n") : [];
  return new Set(urls.flatMap((url) => /\/node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(url)?.[1] ?? []));
}

const HTTP_MODEL = { name: "gpt-remote", engine: "openai", baseUrl: "http://127.0.0.1:9/v1" };

describe("the modules spool serve loads", () => {
  it("loads neither node-llama-cpp nor pg for HTTP Models on SQLite", async () => {
    const loaded = await packagesLoadedAtStart(makeDataDir("imports-http-sqlite"), { models: [HTTP_MODEL] });
    expect(loaded.has("fastify")).toBe(true); // the recorder sees packages at all
    expect(loaded.has("better-sqlite3")).toBe(true);
    expect(loaded.has("node-llama-cpp")).toBe(false);
    expect(loaded.has("pg")).toBe(false);
    // The image installs no devDependencies (Dockerfile: npm install --omit=dev): sources load without tsx.
    expect(loaded.has("tsx")).toBe(false);
  });

  it("loads node-llama-cpp at start when a Model runs on llama-cpp, before any request", async () => {
    const model = { name: "tiny", engine: "llama-cpp", path: await ensureTinyModel() };
    const loaded = await packagesLoadedAtStart(makeDataDir("imports-llama"), { models: [HTTP_MODEL, model] });
    expect(loaded.has("node-llama-cpp")).toBe(true);
  });

  it("loads node-llama-cpp when only a backend of a Model runs on llama-cpp", async () => {
    const backend = { name: "local", engine: "llama-cpp", path: await ensureTinyModel() };
    const loaded = await packagesLoadedAtStart(makeDataDir("imports-llama-backend"), { models: [{ ...HTTP_MODEL, backends: [backend] }] });
    expect(loaded.has("node-llama-cpp")).toBe(true);
  });

  it("loads pg when a database URL is given", async () => {
    const url = new URL(TEST_DATABASE_URL);
    url.searchParams.set("schema", await freshTestSchema("imports-postgres"));
    const loaded = await packagesLoadedAtStart(makeDataDir("imports-postgres"), { models: [HTTP_MODEL], databaseUrl: url.toString() });
    expect(loaded.has("pg")).toBe(true);
    expect(loaded.has("node-llama-cpp")).toBe(false);
  });
});
