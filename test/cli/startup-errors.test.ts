/**
 * Operator mistakes, each run through the real CLI (`node bin/spool.js ...`): one line on stderr naming the
 * problem and the fix, no stack trace, the documented exit code (README, Commands), and a prompt exit.
 */
import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { once } from "node:events";
import { mkdirSync, writeFileSync } from "node:fs";
import { createServer, type AddressInfo, type Server, type Socket } from "node:net";
import path from "node:path";
import Database from "better-sqlite3";
import { afterAll, describe, expect, it } from "vitest";
import { chatLine } from "../helpers/batch-files.ts";
import { TEST_DATABASE_URL } from "../helpers/postgres.ts";
import { testWorkDir } from "../helpers/test-dirs.ts";

const BIN = path.join(process.cwd(), "bin", "spool.js");
/**
 * A bound on a failing start-up: a few seconds alone, but the whole suite shares two cores with several
 * spawned processes. The /proc spin it guards against never ended at all.
 */
const EXIT_WITHIN_MS = 60_000;

interface Outcome {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  elapsedMs: number;
}

/** No SPOOL_* variable of the test environment leaks into the child. */
function cleanEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env = Object.fromEntries(Object.entries(process.env).filter(([name]) => !name.startsWith("SPOOL_")));
  return { ...env, ...extra };
}

async function runSpool(args: string[], options: { env?: Record<string, string>; onStarted?: (child: ReturnType<typeof spawn>) => void } = {}): Promise<Outcome> {
  const started = Date.now();
  const child = spawn(process.execPath, [BIN, ...args], { env: cleanEnv(options.env), stdio: ["ignore", "pipe", "pipe"] });
  let stdout = "";
  let stderr = "";
  child.stdout.on("data", (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
  options.onStarted?.(child);
  const killer = setTimeout(() => child.kill("SIGKILL"), EXIT_WITHIN_MS);
  const [code, signal] = (await once(child, "exit")) as [number | null, NodeJS.Signals | null];
  clearTimeout(killer);
  return { code, signal, stdout, stderr, elapsedMs: Date.now() - started };
}

/** The one stderr line, after checking there is exactly one, no stack trace anywhere and a prompt exit. */
function oneLine(outcome: Outcome, code: number): string {
  expect(outcome.signal, `killed after ${EXIT_WITHIN_MS} ms: ${outcome.stderr}`).toBeNull();
  expect(outcome.elapsedMs).toBeLessThan(EXIT_WITHIN_MS);
  expect(`${outcome.stdout}${outcome.stderr}`).not.toContain("    at ");
  const lines = outcome.stderr.trimEnd().split("\n");
  expect(lines, outcome.stderr).toHaveLength(1);
  expect(outcome.code, outcome.stderr).toBe(code);
  return lines[0] ?? "";
}

async function listeningServer(onConnection: (socket: Socket) => void = () => undefined): Promise<{ server: Server; port: number }> {
  const server = createServer(onConnection);
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  return { server, port: (server.address() as AddressInfo).port };
}

describe.concurrent("spool start-up and operator errors", { timeout: 150_000 }, () => {
  const dir = testWorkDir("cli", "startup-errors");
  const servers: Server[] = [];
  afterAll(() => servers.forEach((server) => server.close()));

  it("exits at once when --data-dir is under /proc instead of spinning (exit 3)", async () => {
    const dataDir = `/proc/spool-${randomBytes(4).toString("hex")}`;
    const line = oneLine(await runSpool(["--data-dir", dataDir, "--port", "0"]), 3);
    expect(line).toBe(`data dir ${dataDir} is not writable: cannot create it: /proc does not accept new directories (ENOENT); choose another one with --data-dir or SPOOL_DATA_DIR.`);
  });

  it("names a data dir that exists but refuses files (exit 3)", async () => {
    const line = oneLine(await runSpool(["--data-dir", "/proc", "--port", "0"]), 3);
    expect(line).toMatch(/^data dir \/proc is not writable: .+; choose another one with --data-dir or SPOOL_DATA_DIR\.$/);
  });

  it("names a data dir that is a file (exit 3)", async () => {
    const file = path.join(dir, "not-a-dir");
    writeFileSync(file, "x");
    const line = oneLine(await runSpool(["--port", "0"], { env: { SPOOL_DATA_DIR: file } }), 3);
    expect(line).toBe(`data dir ${file} is a file, not a directory; choose another one with --data-dir or SPOOL_DATA_DIR.`);
  });

  it("names a data dir whose database is not SQLite, or was migrated by a newer spool (exit 3)", async () => {
    const garbage = path.join(dir, "garbage");
    mkdirSync(garbage);
    writeFileSync(path.join(garbage, "spool.sqlite"), "not a database ".repeat(100));
    const future = path.join(dir, "future");
    mkdirSync(future);
    const database = new Database(path.join(future, "spool.sqlite"));
    database.exec("CREATE TABLE migrations (id INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at_ms INTEGER NOT NULL); INSERT INTO migrations VALUES (999, 'future', 0)");
    database.close();
    const [notSqlite, newer] = await Promise.all([runSpool(["--data-dir", garbage, "--port", "0"]), runSpool(["--data-dir", future, "--port", "0"])]);
    expect(oneLine(notSqlite, 3)).toBe(
      `data dir ${garbage}: cannot use the SQLite database ${garbage}/spool.sqlite: the file is not an SQLite database (SQLITE_NOTADB); move the file away or choose another one with --data-dir or SPOOL_DATA_DIR.`,
    );
    expect(oneLine(newer, 3)).toMatch(/^The database .*spool\.sqlite was migrated by a newer version of spool \(migration 999; .*\)\. Upgrade spool, or point it at another data directory\.$/);
  });

  it("names the busy port and the flag to change it (exit 3)", async () => {
    const { server, port } = await listeningServer();
    servers.push(server);
    const line = oneLine(await runSpool(["--data-dir", path.join(dir, "busy-port"), "--port", String(port)]), 3);
    expect(line).toBe(`port ${port} on 127.0.0.1 is already in use (EADDRINUSE): stop the process using it, or choose another port with --port or SPOOL_PORT.`);
  });

  it("names a host that is not an address of this machine (exit 3)", async () => {
    const line = oneLine(await runSpool(["--data-dir", path.join(dir, "bad-host"), "--port", "0", "--host", "192.0.2.1", "--insecure-no-auth"]), 3);
    expect(line).toMatch(/^host 192\.0\.2\.1 is not an address of this machine \(EADDRNOTAVAIL\): set --host or SPOOL_HOST to 127\.0\.0\.1/);
  });

  it("names an unreachable database with its password masked (exit 3)", async () => {
    const { server, port } = await listeningServer();
    server.close(); // a port nobody listens on: connection refused
    await once(server, "close");
    const outcome = await runSpool(["--data-dir", path.join(dir, "db-refused"), "--port", "0", "--database-url", `postgres://spool:hunter2@127.0.0.1:${port}/spool`]);
    const line = oneLine(outcome, 3);
    expect(line).toBe(
      `database postgres://spool:****@127.0.0.1:${port}/spool is unreachable: connection refused (ECONNREFUSED): check --database-url or SPOOL_DATABASE_URL, and that PostgreSQL is running there.`,
    );
    expect(`${outcome.stdout}${outcome.stderr}`).not.toContain("hunter2");
  });

  it("names a database that does not exist and how to create it (exit 3)", async () => {
    const url = new URL(TEST_DATABASE_URL);
    url.pathname = `/spool_missing_${randomBytes(4).toString("hex")}`;
    const name = url.pathname.slice(1);
    const line = oneLine(await runSpool(["--data-dir", path.join(dir, "db-missing"), "--port", "0"], { env: { SPOOL_DATABASE_URL: url.toString() } }), 3);
    expect(line).toMatch(new RegExp(`^database postgres://.*/${name} does not exist \\(3D000\\): create it \\(createdb ${name}\\)`));
  });

  it("exits promptly on SIGTERM while start-up waits for a database that never answers (exit 143)", async () => {
    let connected: () => void = () => undefined;
    const reached = new Promise<void>((resolve) => (connected = resolve));
    const { server, port } = await listeningServer(() => connected()); // accepts, never speaks PostgreSQL
    servers.push(server);
    let stoppedAt = 0;
    const outcome = await runSpool(["--data-dir", path.join(dir, "db-silent"), "--port", "0", "--database-url", `postgres://spool@127.0.0.1:${port}/spool`], {
      onStarted: (child) => void reached.then(() => {
        stoppedAt = Date.now();
        child.kill("SIGTERM");
      }),
    });
    expect(outcome.code, outcome.stderr).toBe(143);
    expect(outcome.stderr.trim()).toBe("spool: SIGTERM during start-up: exiting.");
    expect(Date.now() - stoppedAt).toBeLessThan(5_000);
  });

  it("names a missing input file of spool validate and spool run (exit 2)", async () => {
    const missing = path.join(dir, "missing.jsonl");
    const [validate, run] = await Promise.all([runSpool(["validate", missing]), runSpool(["run", "-i", missing, "-o", path.join(dir, "out.jsonl")])]);
    expect(oneLine(validate, 2)).toBe(`spool validate: the input file ${missing} does not exist (ENOENT): check the path.`);
    expect(oneLine(run, 2)).toBe(`spool run: the input file ${missing} does not exist (ENOENT): check the path.`);
  });

  it("names spool run's work directory when the output cannot be written (exit 3)", async () => {
    const input = path.join(dir, "requests.jsonl");
    writeFileSync(input, `${chatLine("a", "hi")}\n`);
    const output = `/proc/spool-out-${randomBytes(4).toString("hex")}.jsonl`;
    const line = oneLine(await runSpool(["run", "-i", input, "-o", output]), 3);
    expect(line).toMatch(new RegExp(`^work directory ${output.replace(/\./g, "\\.")}\\.spool is not writable: cannot create it: /proc does not accept new directories \\(ENOENT\\); `));
  });

  it("names a config file that does not exist and the flag that named it (exit 2)", async () => {
    const missing = path.join(dir, "nope.yaml");
    expect(oneLine(await runSpool(["--config", missing]), 2)).toBe(`config file ${missing} does not exist (ENOENT): check --config.`);
  });

  it("gives the line of a YAML or JSON syntax error (exit 2)", async () => {
    const yaml = path.join(dir, "broken.yaml");
    writeFileSync(yaml, "port: 8080\nmodels:\n  - name: a\n   engine: openai\n");
    const json = path.join(dir, "broken.json");
    writeFileSync(json, '{\n  "port": 8080,\n  "host": "127.0.0.1",\n}\n');
    const [fromYaml, fromJson] = await Promise.all([runSpool(["--config", yaml]), runSpool(["--config", json])]);
    expect(oneLine(fromYaml, 2)).toMatch(/^broken\.yaml:4:\d+: not valid YAML: /);
    expect(oneLine(fromJson, 2)).toBe("broken.json:3:22: not valid JSON: a trailing comma before '}' (JSON allows none).");
  });

  it("names an unset ${VAR} and the key that uses it, without a source excerpt (exit 2)", async () => {
    const config = path.join(dir, "unset.yaml");
    writeFileSync(config, "models:\n  - name: a\n    engine: openai\n    baseUrl: http://127.0.0.1:9/v1\n    apiKey: ${SPOOL_TEST_UNSET_KEY}\n");
    const line = oneLine(await runSpool(["--config", config, "--data-dir", path.join(dir, "unset")]), 2);
    expect(line).toBe("unset.yaml:5: models[0].apiKey uses ${SPOOL_TEST_UNSET_KEY}, which is not set: export SPOOL_TEST_UNSET_KEY=..., or write ${SPOOL_TEST_UNSET_KEY:-default}.");
  });

  it("explains an invalid value and suggests the key meant (exit 2)", async () => {
    const config = path.join(dir, "typo.yaml");
    const jsonl = path.join(dir, "ok.jsonl");
    writeFileSync(jsonl, `${chatLine("a", "hi")}\n`);
    writeFileSync(config, "models:\n  - name: a\n    engine: openai\n    baseUrl: http://127.0.0.1:9/v1\n    concurency: 4\n");
    expect(oneLine(await runSpool(["validate", jsonl, "--config", config]), 2)).toBe("typo.yaml:5: unknown key 'models[0].concurency': did you mean 'concurrency'?");
  });

  it("answers a command-line mistake with one line pointing at --help (exit 2)", async () => {
    expect(oneLine(await runSpool(["serve", "--bogus"]), 2)).toBe("error: unknown option '--bogus' (see spool serve --help)");
  });
});
