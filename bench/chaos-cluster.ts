/**
 * The spool processes of a chaos run, which the run kills and restarts. SQLite: one `spool serve` on a data
 * dir (on a small tmpfs when one can be mounted, so the disk can be filled). PostgreSQL: one API process
 * (`serve --no-workers`) and two `spool worker` processes on a fresh schema, all reaching the shared server
 * through a TCP proxy the run can cut without touching the server. The API keeps its port across restarts,
 * so clients keep their base URL.
 */
import { cpSync, mkdirSync, writeFileSync } from "node:fs";
import net from "node:net";
import path from "node:path";
import pg from "pg";
import { makeDataDir, writeConfigFile } from "../test/helpers/spool-app.ts";
import { startSpoolProcess, type SpoolProcess } from "../test/helpers/spool-process.ts";
import { TEST_DATABASE_URL, testSchemaName } from "../test/helpers/postgres.ts";
import { startTcpProxy, type TcpProxy } from "../test/helpers/tcp-proxy.ts";
import { mountTinyFilesystem, tinyFilesystemUnavailableReason, type TinyFilesystem } from "../test/helpers/tiny-filesystem.ts";
import type { ConfigFile } from "../src/config/config.ts";

export type ChaosStore = "sqlite" | "postgres";

/** Per-Model settings the checks rely on (bounds on upstream calls). */
export const MODEL = { name: "gpt-chaos", concurrency: 16, timeoutMs: 1_500, maxRetries: 3 } as const;
export const WORKER = { leaseMs: 4_000, sweepMs: 100, pollMs: 100, maxAttempts: 5, shutdownGraceMs: 500 } as const;

export interface ChaosCluster {
  readonly store: ChaosStore;
  /** Base URL of the API process (no /v1); the same across restarts. */
  readonly url: string;
  /** The tmpfs under the SQLite data dir, or null (PostgreSQL, or no tmpfs here). */
  readonly disk: TinyFilesystem | null;
  /** Why there is no tmpfs (printed once), or null. */
  readonly noDiskReason: string | null;
  /** The proxy in front of PostgreSQL, or null (SQLite). */
  readonly proxy: TcpProxy | null;
  /** Number of worker-only processes (0 on SQLite). */
  readonly workerCount: number;
  /** SIGKILLs every process, waits for them to die, starts them again. */
  killAll(): Promise<void>;
  /** SIGKILLs the API process (on SQLite: the only process) and starts it again. */
  killApi(): Promise<void>;
  /** SIGKILLs worker process `index` and starts it again. */
  killWorker(index: number): Promise<void>;
  /** Processes that ended without being killed by the run (a crash of its own), with their last output. */
  readonly unexpectedExits: string[];
  /** Writes every process's output (killed ones too) and, from a tmpfs, the data dir under `dir`, for a failed run. */
  keepEvidence(dir: string): void;
  /** Stops everything; drops the PostgreSQL schema when `dropSchema`. */
  close(options: { dropSchema: boolean }): Promise<void>;
  describe(): string;
}

/** Starts spool processes and remembers which ones the run killed, so any other exit is reported. */
class Processes {
  readonly unexpectedExits: string[] = [];
  private readonly killed = new WeakSet<SpoolProcess>();
  private readonly all: { name: string; proc: SpoolProcess }[] = [];

  async start(params: Parameters<typeof startSpoolProcess>[0]): Promise<SpoolProcess> {
    const proc = await startSpoolProcess(params);
    this.all.push({ name: `${this.all.length + 1}-${params.command ?? "serve"}`, proc });
    void proc.exited.then((code) => {
      if (!this.killed.has(proc)) this.unexpectedExits.push(`spool ${params.command ?? "serve"} exited (${code}):\n${proc.output().slice(-2_000)}`);
    });
    return proc;
  }

  keepOutputs(dir: string): void {
    mkdirSync(dir, { recursive: true });
    for (const { name, proc } of this.all) writeFileSync(path.join(dir, `${name}.log`), proc.output());
  }

  async kill(proc: SpoolProcess): Promise<void> {
    this.killed.add(proc);
    proc.kill("SIGKILL");
    await proc.exited;
  }
}

export async function startChaosCluster(params: { store: ChaosStore; upstreamUrl: string; label: string }): Promise<ChaosCluster> {
  const port = await freePort();
  const models = [{ name: MODEL.name, engine: "openai" as const, baseUrl: params.upstreamUrl, concurrency: MODEL.concurrency, timeoutMs: MODEL.timeoutMs, maxRetries: MODEL.maxRetries }];
  const base: ConfigFile = { host: "127.0.0.1", models, worker: { ...WORKER } };
  if (params.store === "sqlite") return startSqlite(params.label, port, base);
  return startPostgres(params.label, port, base);
}

async function startSqlite(label: string, port: number, base: ConfigFile): Promise<ChaosCluster> {
  const noDiskReason = tinyFilesystemUnavailableReason();
  // Large enough for a run's batches; filled only for a moment, so its size costs no memory otherwise.
  const disk = noDiskReason === null ? mountTinyFilesystem(`chaos ${label}`, 256 * 1024 * 1024) : null;
  const dataDir = disk?.dir ?? makeDataDir(`chaos-${label}`);
  // The config lives outside the tmpfs: a restart on a full disk must still be able to read it.
  const configPath = writeConfigFile(makeDataDir(`chaos-${label}-config`), { ...base, port, dataDir });
  const processes = new Processes();
  let serve = await processes.start({ configPath });
  const restart = async (): Promise<void> => {
    await processes.kill(serve);
    serve = await processes.start({ configPath });
  };
  return {
    store: "sqlite",
    url: `http://127.0.0.1:${port}`,
    disk,
    noDiskReason,
    proxy: null,
    workerCount: 0,
    killAll: restart,
    killApi: restart,
    killWorker: () => Promise.reject(new Error("the SQLite layout has no worker-only processes")),
    unexpectedExits: processes.unexpectedExits,
    keepEvidence(dir) {
      processes.keepOutputs(dir);
      if (disk) cpSync(dataDir, path.join(dir, "data"), { recursive: true, filter: (source) => !source.endsWith(".filler") });
    },
    async close() {
      await processes.kill(serve);
      disk?.unmount();
    },
    describe: () => `SQLite, 1 process (serve), data dir ${dataDir}${disk ? " (tmpfs)" : ""}`,
  };
}

async function startPostgres(label: string, port: number, base: ConfigFile): Promise<ChaosCluster> {
  const target = new URL(TEST_DATABASE_URL);
  const proxy = await startTcpProxy({ host: target.hostname, port: Number(target.port || 5432) });
  const schema = testSchemaName(`chaos ${label}`);
  const viaProxy = new URL(TEST_DATABASE_URL);
  viaProxy.host = `127.0.0.1:${proxy.port}`;
  viaProxy.searchParams.set("schema", schema);
  const configFor = (name: string, extra: Partial<ConfigFile> = {}): string => {
    const dataDir = makeDataDir(`chaos-${label}-${name}`);
    return writeConfigFile(dataDir, { ...base, port: 0, dataDir, databaseUrl: viaProxy.toString(), ...extra });
  };
  const apiConfig = configFor("api", { port });
  const workerConfigs = [configFor("worker-1"), configFor("worker-2")];
  const processes = new Processes();
  const startApi = (): Promise<SpoolProcess> => processes.start({ configPath: apiConfig, args: ["--no-workers"] });
  const startWorker = (index: number): Promise<SpoolProcess> => processes.start({ command: "worker", configPath: workerConfigs[index]! });
  // The API process migrates the schema first; the workers then start together.
  let api = await startApi();
  const workers = await Promise.all(workerConfigs.map((_, index) => startWorker(index)));
  const kill = (proc: SpoolProcess): Promise<void> => processes.kill(proc);
  return {
    store: "postgres",
    url: `http://127.0.0.1:${port}`,
    disk: null,
    noDiskReason: "the PostgreSQL layout keeps Files in the database, not on a data dir",
    proxy,
    workerCount: workers.length,
    unexpectedExits: processes.unexpectedExits,
    keepEvidence: (dir) => processes.keepOutputs(dir),
    async killAll() {
      await Promise.all([api, ...workers].map(kill));
      [api] = await Promise.all([startApi(), ...workers.map(async (_, index) => (workers[index] = await startWorker(index)))]);
    },
    async killApi() {
      await kill(api);
      api = await startApi();
    },
    async killWorker(index) {
      await kill(workers[index]!);
      workers[index] = await startWorker(index);
    },
    async close({ dropSchema }) {
      await Promise.all([api, ...workers].map(kill));
      await proxy.close();
      if (dropSchema) await dropPostgresSchema(schema);
    },
    describe: () => `PostgreSQL, 1 API process + ${workers.length} worker processes, schema ${schema} via a TCP proxy`,
  };
}

async function dropPostgresSchema(schema: string): Promise<void> {
  const client = new pg.Client({ connectionString: TEST_DATABASE_URL });
  await client.connect();
  try {
    await client.query(`DROP SCHEMA IF EXISTS ${pg.escapeIdentifier(schema)} CASCADE`);
  } finally {
    await client.end();
  }
}

/** A port free now, for an API process that must come back on the same port after each kill. */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}
