/**
 * `--database-listen-url` (databaseListenUrl) from the command line to the listening connection, and the
 * hearing check that tells an operator when wake-ups do not arrive: a worker whose listening connection
 * goes to another database (as through PgBouncer in transaction mode, it then hears nothing the pool
 * sends) logs one warning naming where it listens; a worker listening on the right database says nothing.
 */
import { afterAll, describe, expect, it } from "vitest";
import { postgresUnavailableReason, TEST_DATABASE_URL, testSchemaName } from "../helpers/postgres.ts";
import { makeDataDir, writeConfigFile } from "../helpers/spool-app.ts";
import { startSpoolProcess, type SpoolProcess } from "../helpers/spool-process.ts";
import { waitFor } from "../helpers/wait-for.ts";

const available = (await postgresUnavailableReason()) === null;
const processes: SpoolProcess[] = [];

afterAll(() => {
  for (const proc of processes) proc.kill("SIGKILL");
});

const DEAF = /does not hear the wake-ups/;

describe.skipIf(!available)("databaseListenUrl", () => {
  it("warns when the listening connection cannot hear the pool's database, and not when it can", async () => {
    const url = new URL(TEST_DATABASE_URL);
    url.searchParams.set("schema", testSchemaName("listen url"));
    const elsewhere = new URL(TEST_DATABASE_URL);
    elsewhere.pathname = "/template1";
    const worker = (label: string, listenUrl: string) => {
      const dataDir = makeDataDir(label);
      const configPath = writeConfigFile(dataDir, { dataDir, databaseUrl: url.toString(), models: [{ name: "m", engine: "openai", baseUrl: "http://127.0.0.1:9/v1" }] });
      return startSpoolProcess({ command: "worker", configPath, args: ["--database-listen-url", listenUrl] });
    };
    // The first process migrates the schema; the second starts after it.
    const hears = await worker("listen-direct", TEST_DATABASE_URL);
    processes.push(hears);
    const deaf = await worker("listen-elsewhere", elsewhere.toString());
    processes.push(deaf);

    await waitFor(() => DEAF.test(deaf.output()), { what: "the deaf worker's warning", timeoutMs: 15_000 });
    const warning = deaf.output().split("\n").find((line) => DEAF.test(line))!;
    expect(JSON.parse(warning)).toMatchObject({ level: 40, listeningTo: expect.stringMatching(/:\d+\/template1$/), msg: expect.stringMatching(/set databaseListenUrl to a direct connection/) });
    // Both checks were sent at start-up, seconds ago: the one on the right database came back.
    expect(hears.output()).not.toMatch(DEAF);
    expect(deaf.output().match(new RegExp(DEAF, "g"))).toHaveLength(1);
  }, 60_000);
});
