/**
 * `--database-listen-url` (databaseListenUrl) from the command line to the listening connection, and the
 * hearing check that tells an operator when wake-ups do not arrive: a process whose listening connection
 * goes to another database (as through PgBouncer in transaction mode, it then hears nothing the pool
 * sends) logs one warning naming where it listens and shows `spool_work_events_hearing 0`; a process
 * listening on the right database says nothing and shows 1. A process on SQLite has no such gauge.
 */
import { afterAll, describe, expect, it } from "vitest";
import { postgresUnavailableReason, TEST_DATABASE_URL, testSchemaName } from "../helpers/postgres.ts";
import { scrapeMetrics } from "../helpers/prometheus.ts";
import { makeDataDir, writeConfigFile } from "../helpers/spool-app.ts";
import { startSpoolProcess, type SpoolProcess } from "../helpers/spool-process.ts";
import { waitFor } from "../helpers/wait-for.ts";

const available = (await postgresUnavailableReason()) === null;
const processes: SpoolProcess[] = [];

afterAll(() => {
  for (const proc of processes) proc.kill("SIGKILL");
});

const DEAF = /does not hear the wake-ups/;
const HEARING = "spool_work_events_hearing";
const MODELS = [{ name: "m", engine: "openai" as const, baseUrl: "http://127.0.0.1:9/v1" }];

async function serve(label: string, settings: Record<string, unknown>, args: string[] = []): Promise<SpoolProcess> {
  const dataDir = makeDataDir(label);
  const proc = await startSpoolProcess({ configPath: writeConfigFile(dataDir, { port: 0, dataDir, models: MODELS, ...settings }), args });
  processes.push(proc);
  return proc;
}

describe.skipIf(!available)("databaseListenUrl", () => {
  it("warns when the listening connection cannot hear the pool's database, and not when it can", async () => {
    const url = new URL(TEST_DATABASE_URL);
    url.searchParams.set("schema", testSchemaName("listen url"));
    const elsewhere = new URL(TEST_DATABASE_URL);
    elsewhere.pathname = "/template1";
    // The first process migrates the schema; the second starts after it.
    const hears = await serve("listen-direct", { databaseUrl: url.toString() }, ["--database-listen-url", TEST_DATABASE_URL]);
    const deaf = await serve("listen-elsewhere", { databaseUrl: url.toString() }, ["--database-listen-url", elsewhere.toString()]);

    await waitFor(() => DEAF.test(deaf.output()), { what: "the deaf process's warning", timeoutMs: 15_000 });
    const warning = deaf.output().split("\n").find((line) => DEAF.test(line))!;
    expect(JSON.parse(warning)).toMatchObject({ level: 40, listeningTo: expect.stringMatching(/:\d+\/template1$/), msg: expect.stringMatching(/set databaseListenUrl to a direct connection/) });
    expect((await scrapeMetrics(deaf.url!)).value(HEARING)).toBe(0);
    // Both checks were sent at start-up, seconds ago: the one on the right database came back.
    expect((await scrapeMetrics(hears.url!)).value(HEARING)).toBe(1);
    expect(hears.output()).not.toMatch(DEAF);
    expect(deaf.output().match(new RegExp(DEAF, "g"))).toHaveLength(1);
  }, 60_000);
});

describe("the hearing gauge", () => {
  it("has no hearing gauge on SQLite, where no process listens", async () => {
    const local = await serve("listen-sqlite", {});
    const scrape = await scrapeMetrics(local.url!);
    expect(scrape.families.has("spool_work_events_total")).toBe(true);
    expect(scrape.families.has(HEARING)).toBe(false);
  });
});
