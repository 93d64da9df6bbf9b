/**
 * The dashboard's reads with 100k Batches in the Store (issue 14: "fast with 100k batches"): the list's
 * first page, a page deep in the history (keyset cursor), rare-status and model filters, Batches by status
 * (the chips and the `spool_batches` gauge, a partial index of live statuses), and the queue per Model
 * over 100k pending Items (the `spool_items` gauges). The baseline is `count(*)` of the live Batches
 * (every row counted once): what a read that is not paged costs at least. SQLite and PostgreSQL.
 */
import { mkdirSync, mkdtempSync } from "node:fs";
import path from "node:path";
import { openPostgresStore, type PostgresStore } from "../src/store/postgres/index.ts";
import { openSqliteStore } from "../src/store/sqlite/index.ts";
import type { NewItem, Store } from "../src/store/store.ts";
import { TEST_DATABASE_URL, testSchemaName } from "../test/helpers/postgres.ts";
import { row, WORK_DIR } from "./lib.ts";
import Database from "better-sqlite3";

const BATCHES = 100_000;
const QUEUED_ITEMS = 100_000;
const RUNS = 15;

async function median(run: () => Promise<unknown>): Promise<number> {
  const times: number[] = [];
  for (let i = 0; i < RUNS; i += 1) {
    const started = performance.now();
    await run();
    times.push(performance.now() - started);
  }
  return times.sort((a, b) => a - b)[Math.floor(RUNS / 2)] ?? 0;
}

/** 100k Batches (1 in 200 failed, 1 in 1000 in progress, the rest completed), and one Batch of 100k pending Items. */
async function fill(store: Store, exec: (sql: string) => Promise<void>): Promise<string> {
  const now = Date.now();
  const values: string[] = [];
  for (let i = 0; i < BATCHES; i += 1) {
    const status = i % 200 === 0 ? "failed" : i % 1000 === 1 ? "in_progress" : "completed";
    values.push(`('batch_bench${i}', 'openai', 'chat', '/v1/chat/completions', 'model-${i % 4}', '${status}', 'fail', ${now - (BATCHES - i) * 1000}, ${now}, ${now + 86_400_000}, 3, 3)`);
  }
  for (let start = 0; start < values.length; start += 5_000) {
    await exec(`INSERT INTO batches (id, dialect, kind, endpoint, model, status, invalid_line_policy, created_at_ms, updated_at_ms, expires_at_ms, total_items, succeeded_items) VALUES ${values.slice(start, start + 5_000).join(",")}`);
  }
  const queued = await store.createBatch({ id: "batch_queued", dialect: "openai", kind: "chat", endpoint: "/v1/chat/completions", model: null, inputFileId: null, invalidLinePolicy: "fail", displayName: null, metadata: null, options: {}, priority: 0, createdAtMs: now, expiresAtMs: now + 86_400_000 });
  await store.claimValidation({ owner: "bench", nowMs: now, leaseMs: 60_000 });
  const items: NewItem[] = Array.from({ length: QUEUED_ITEMS }, (_, index) => ({ index, clientId: `r${index}`, echo: null, model: `model-${index % 4}`, kind: "chat", request: "{}" }));
  for (let start = 0; start < items.length; start += 5_000) await store.insertItems(queued.id, items.slice(start, start + 5_000));
  await store.startBatch(queued.id, { owner: "bench", total: QUEUED_ITEMS, model: null, errors: null, nowMs: now });
  // A deployment's tables are analyzed (PostgreSQL's autovacuum); a freshly filled one is not yet.
  await exec("ANALYZE");
  return "batch_bench50000";
}

async function measure(name: string, store: Store, exec: (sql: string) => Promise<void>, scan: () => Promise<unknown>): Promise<void> {
  const middle = await fill(store, exec);
  const baseline = await median(scan);
  const figures: [string, () => Promise<unknown>][] = [
    ["list: newest 50", () => store.listBatches({ limit: 50 })],
    ["list: 50 after the 50,000th", () => store.listBatches({ limit: 50, afterId: middle })],
    ["list: 50 failed (1 in 200)", () => store.listBatches({ limit: 50, statuses: ["failed"] })],
    ["list: 50 in progress (1 in 1000)", () => store.listBatches({ limit: 50, statuses: ["in_progress"] })],
    ["list: 50 of one model", () => store.listBatches({ limit: 50, model: "model-2" })],
    ["batches by status", () => store.countBatchesByStatus()],
    [`queue per model (${QUEUED_ITEMS.toLocaleString()} pending)`, () => store.queueStats()],
  ];
  row(`${name}: count(*) of ${BATCHES.toLocaleString()} live batches (baseline)`, `${baseline.toFixed(2)} ms`);
  for (const [label, run] of figures) {
    const ms = await median(run);
    row(`${name}: ${label}`, `${ms.toFixed(2)} ms`, `${(ms / baseline).toFixed(2)}x the scan`);
  }
}

export async function benchDashboard(): Promise<void> {
  console.log(`\nDashboard reads with ${BATCHES.toLocaleString()} batches (median of ${RUNS})`);
  mkdirSync(WORK_DIR, { recursive: true });
  const file = path.join(mkdtempSync(path.join(WORK_DIR, "dashboard-")), "spool.sqlite");
  const sqlite = await openSqliteStore(file);
  await sqlite.migrate();
  const side = new Database(file);
  try {
    await measure("SQLite", sqlite, async (sql) => void side.exec(sql), async () => side.prepare("SELECT count(*) FROM batches WHERE deleted_at_ms IS NULL").get());
  } finally {
    side.close();
    await sqlite.close();
  }
  let postgres: PostgresStore | null = null;
  try {
    postgres = await openPostgresStore(TEST_DATABASE_URL, { schema: testSchemaName(`bench dashboard ${Date.now()}`), poolSize: 2 });
    await postgres.migrate();
    const db = postgres.db;
    await measure("PostgreSQL", postgres, async (sql) => void (await db.query(sql)), () => db.query("SELECT count(*) FROM batches WHERE deleted_at_ms IS NULL"));
  } catch (error) {
    row("PostgreSQL: skipped", "", (error as Error).message.slice(0, 120));
  } finally {
    await postgres?.close();
  }
}
