/**
 * `listing`: the Batch list a client or the dashboard pages through, with 100k finished Batches in the
 * Store vs with 1,000 (issue 11: listing stays fast as finished Batches pile up; pages hold the same rows). Store-level, both stores:
 * the newest page, a page deep in the list, a rare status, a live status, and a Model filter; the tenant's
 * usage, which quota checks read on every upload and create; the Batches by status the dashboard and the
 * metrics read; and the look for expired Files every sweep makes (as many Files as Batches). The Batches
 * are copied from one created through the Store (plain SQL: creating 100k through the API would take the
 * whole bench's time and measures nothing here).
 */
import { mkdtempSync } from "node:fs";
import path from "node:path";
import Database from "better-sqlite3";
import pg from "pg";
import { openPostgresStore } from "../src/store/postgres/index.ts";
import { openSqliteStore } from "../src/store/sqlite/index.ts";
import type { BatchQuery, Store } from "../src/store/store.ts";
import { TEST_DATABASE_URL, testSchemaName } from "../test/helpers/postgres.ts";
import { ratio, row, WORK_DIR } from "./lib.ts";

const FINISHED = 100_000;
const BASELINE = 1_000;
const idOf = (n: number): string => `batch_${String(n).padStart(8, "0")}`;
/** Columns copied from the seed Batch as they are; the rest are set per copy. */
const SET_PER_COPY = ["seq", "id", "status", "dialect"];
/** Columns of the seed File set per copy. */
const SET_PER_FILE_COPY = ["seq", "id", "expires_at_ms"];
const YEAR_MS = 365 * 86_400_000;
const fileIdOf = (n: number): string => `file-${String(n).padStart(8, "0")}`;

interface Listing {
  name: string;
  /** One read, given how many Batches are stored. */
  read: (store: Store, count: number) => Promise<unknown>;
}

const list =
  (query: (count: number) => BatchQuery) =>
  (store: Store, count: number): Promise<unknown> =>
    store.listBatches(query(count));

const LISTINGS: Listing[] = [
  { name: "newest page (100)", read: list(() => ({ tenant: "default", limit: 100 })) },
  { name: "a page 90% of the way down", read: list((count) => ({ tenant: "default", limit: 100, afterId: idOf(Math.floor(count * 0.1)) })) },
  { name: "the newest failed Batch (1 in 1,000)", read: list(() => ({ tenant: "default", limit: 1, statuses: ["failed"] })) },
  { name: "status in_progress or validating", read: list(() => ({ tenant: "default", limit: 100, statuses: ["in_progress", "validating"] })) },
  { name: "a Model with no Batches", read: list(() => ({ tenant: "default", limit: 20, model: "nobody" })) },
  // What quota checks read, with quotas set: a create, the tenant's live Batches; an upload under
  // maxStoredBytes, also what it stores (one File per Batch here; a running total since migration 019).
  { name: "a tenant's live work (a create's quota checks)", read: (store) => store.tenantLiveWork("default") },
  { name: "a tenant's usage, stored bytes (an upload's)", read: (store) => store.tenantUsage("default") },
  // What the dashboard's overview and the spool_batches gauge read (a running count since migration 021).
  { name: "Batches by status (overview, metrics)", read: (store) => store.countBatchesByStatus() },
  // The admins' tenant overview (dashboard, GET /v1/admin/tenants): every tenant's name, then its usage.
  { name: "usage by tenant (admin overview)", read: (store) => store.usageByTenant() },
  // What every sweep asks (none is due here: the copies expire in a year, or never).
  { name: "Files past their expiry (each sweep)", read: (store) => store.deleteExpiredFiles(Date.now(), 100) },
];

/**
 * Copies of the seed: ids idOf(from..to-1), oldest first; every 1,000th failed, the rest completed. And as
 * many copies of the seed File, every other one expiring in a year, the rest never.
 */
type Fill = (from: number, to: number) => Promise<void>;

async function seed(store: Store): Promise<void> {
  const now = Date.now();
  await store.createBatch({
    id: "batch_seed", tenant: "default", dialect: "openai", kind: "chat", endpoint: "/v1/chat/completions", model: null, inputFileId: null,
    invalidLinePolicy: "fail", displayName: null, metadata: null, options: {}, priority: 0, createdAtMs: now, expiresAtMs: now + 86_400_000,
  });
  await store.createFile({
    id: "file-seed", tenant: "default", purpose: "batch_output", filename: "output.jsonl", displayName: null, mimeType: "application/jsonl",
    bytes: 1_000, sha256: "0".repeat(64), source: "generated", createdAtMs: now, expiresAtMs: now + YEAR_MS,
  });
}

async function sqlite(): Promise<{ store: Store; fill: Fill; close: () => Promise<void> }> {
  const file = path.join(mkdtempSync(path.join(WORK_DIR, "listing-")), "spool.sqlite");
  let store = await openSqliteStore(file);
  await store.migrate();
  await seed(store);
  const fill: Fill = async (from, to) => {
    await store.close();
    const db = new Database(file);
    const columns = (db.prepare("PRAGMA table_info(batches)").all() as { name: string }[]).map((c) => c.name).filter((c) => !SET_PER_COPY.includes(c));
    const copy = db.prepare(`INSERT INTO batches (id, status, dialect, ${columns.join(", ")}) SELECT ?, ?, 'openai', ${columns.join(", ")} FROM batches WHERE id = 'batch_seed'`);
    const fileColumns = (db.prepare("PRAGMA table_info(files)").all() as { name: string }[]).map((c) => c.name).filter((c) => !SET_PER_FILE_COPY.includes(c));
    const copyFile = db.prepare(`INSERT INTO files (id, expires_at_ms, ${fileColumns.join(", ")}) SELECT ?, CASE WHEN ? THEN expires_at_ms END, ${fileColumns.join(", ")} FROM files WHERE id = 'file-seed'`);
    db.transaction(() => {
      for (let n = from; n < to; n += 1) {
        copy.run(idOf(n), n % 1_000 === 999 ? "failed" : "completed");
        copyFile.run(fileIdOf(n), n % 2);
      }
    })();
    db.close();
    store = await openSqliteStore(file);
  };
  return { get store() { return store; }, fill, close: () => store.close() };
}

async function postgres(): Promise<{ store: Store; fill: Fill; close: () => Promise<void> }> {
  const schema = testSchemaName(`bench listing ${Date.now()}`);
  const store = await openPostgresStore(TEST_DATABASE_URL, { schema, poolSize: 2 });
  await store.migrate();
  await seed(store);
  const client = new pg.Client({ connectionString: TEST_DATABASE_URL });
  await client.connect();
  const fill: Fill = async (from, to) => {
    const { rows } = await client.query<{ column_name: string }>("SELECT column_name FROM information_schema.columns WHERE table_schema = $1 AND table_name = 'batches'", [schema]);
    const columns = rows.map((r) => r.column_name).filter((c) => !SET_PER_COPY.includes(c));
    await client.query(
      `INSERT INTO "${schema}".batches (id, status, dialect, ${columns.join(", ")})
       SELECT 'batch_' || lpad(g::text, 8, '0'), CASE WHEN g % 1000 = 999 THEN 'failed' ELSE 'completed' END, 'openai', ${columns.map((c) => `b.${c}`).join(", ")}
       FROM generate_series(${from}, ${to - 1}) g, "${schema}".batches b WHERE b.id = 'batch_seed' ORDER BY g`,
    );
    const files = await client.query<{ column_name: string }>("SELECT column_name FROM information_schema.columns WHERE table_schema = $1 AND table_name = 'files'", [schema]);
    const fileColumns = files.rows.map((r) => r.column_name).filter((c) => !SET_PER_FILE_COPY.includes(c));
    await client.query(
      `INSERT INTO "${schema}".files (id, expires_at_ms, ${fileColumns.join(", ")})
       SELECT 'file-' || lpad(g::text, 8, '0'), CASE WHEN g % 2 = 1 THEN f.expires_at_ms END, ${fileColumns.map((c) => `f.${c}`).join(", ")}
       FROM generate_series(${from}, ${to - 1}) g, "${schema}".files f WHERE f.id = 'file-seed' ORDER BY g`,
    );
    await client.query(`ANALYZE "${schema}".batches`);
    await client.query(`ANALYZE "${schema}".files`);
    // The copies above wrote every File and Batch in one statement each, so the tenant's stored total
    // (migration 019) and the count of completed Batches (021) were updated that many times in one
    // transaction: as many dead versions of one row, which a running system's autovacuum removes within
    // its naptime (a minute) once 50 have piled up. Do what it would.
    await client.query(`VACUUM "${schema}".tenant_storage`);
    await client.query(`VACUUM "${schema}".batch_status_counts`);
  };
  const close = async (): Promise<void> => {
    await store.close();
    await client.query(`DROP SCHEMA "${schema}" CASCADE`);
    await client.end();
  };
  return { store, fill, close };
}

/** Median ms of 15 calls, after 3 untimed ones. */
async function timeRead(store: Store, listing: Listing, count: number): Promise<number> {
  for (let i = 0; i < 3; i += 1) await listing.read(store, count);
  const samples: number[] = [];
  for (let i = 0; i < 15; i += 1) {
    const started = performance.now();
    await listing.read(store, count);
    samples.push(performance.now() - started);
  }
  return samples.sort((a, b) => a - b)[7] as number;
}

export async function benchListing(): Promise<void> {
  console.log(`\nListing: Store.listBatches, the quota checks' reads and the sweep's expiry look with ${FINISHED.toLocaleString()} finished Batches vs with ${BASELINE.toLocaleString()} (median of 15 calls)`);
  for (const [name, open] of [["SQLite", sqlite], ["PostgreSQL", postgres]] as const) {
    let opened: Awaited<ReturnType<typeof sqlite>> | null = null;
    try {
      opened = await open();
      await opened.fill(0, BASELINE);
      const few = new Map<string, number>();
      for (const listing of LISTINGS) few.set(listing.name, await timeRead(opened.store, listing, BASELINE));
      await opened.fill(BASELINE, FINISHED);
      for (const listing of LISTINGS) {
        const ms = await timeRead(opened.store, listing, FINISHED);
        const baseline = few.get(listing.name) as number;
        row(`${name}: ${listing.name}`, `${ms.toFixed(2)} ms`, `${ratio(ms, baseline, { max: 2 })} the time with ${BASELINE.toLocaleString()} (${baseline.toFixed(2)} ms)`);
      }
    } catch (error) {
      row(`${name}: skipped`, "", (error as Error).message.slice(0, 120));
    } finally {
      await opened?.close();
    }
  }
}
