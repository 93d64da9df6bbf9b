/**
 * Migration 006 (the dialect CHECK gains 'anthropic') on a database made by the schema before it, with work
 * in flight: an OpenAI and a Gemini Batch, one Item running under the old code's Lease. After the upgrade
 * the rows are as they were (ids, dialects, seq order, counters), the running Item's completion still passes
 * its fence, an Anthropic Batch can be stored and a dialect nobody knows still cannot; on SQLite, whose
 * migration replaces the column, the items -> batches foreign key and the indexes still hold.
 */
import { afterEach, describe, expect, it } from "vitest";
import { migrate as migratePostgres } from "../../src/store/postgres/migrate.ts";
import { loadMigrations as postgresMigrations } from "../../src/store/postgres/migrate.ts";
import { openPostgresStore, type PostgresStore } from "../../src/store/postgres/index.ts";
import { SqliteDatabase } from "../../src/store/sqlite/database.ts";
import { loadMigrations as sqliteMigrations, migrate as migrateSqlite } from "../../src/store/sqlite/migrate.ts";
import { openSqliteStore } from "../../src/store/sqlite/index.ts";
import type { Store } from "../../src/store/store.ts";
import { freshTestSchema, TEST_DATABASE_URL } from "../helpers/postgres.ts";
import { storeBackends } from "../helpers/store-backends.ts";
import { testWorkPath } from "../helpers/test-dirs.ts";
import { allItems, completion, expectCountsMatchItems, LEASE_MS, MODEL, newBatch, newItems, T0 } from "./store-fixtures.ts";

/**
 * The schema before 006, plus 010 and 011: they add columns today's Store code writes when it creates the
 * old rows below (tenant, idempotency), and are independent of 006, which is then applied on top.
 */
const BEFORE_006 = (id: number): boolean => id < 6 || id === 10 || id === 11;

const opened: Store[] = [];
afterEach(async () => {
  await Promise.all(opened.splice(0).map((store) => store.close()));
});

interface Database {
  /** A Store on the database as it is (no migration). */
  open(): Promise<Store>;
  /** Runs SQL from outside any Store; the rows of a SELECT. */
  query(sql: string): Promise<Record<string, unknown>[]>;
}

async function upgradeWithWorkInFlight(database: Database): Promise<void> {
  const before = await database.open();
  const openaiBatch = await before.createBatch(newBatch({ dialect: "openai" }));
  const geminiBatch = await before.createBatch(newBatch({ dialect: "gemini", invalidLinePolicy: "skip", createdAtMs: T0 + 1 }));
  await before.claimValidation({ owner: "validator", nowMs: T0, leaseMs: LEASE_MS });
  await before.insertItems(openaiBatch.id, newItems(3));
  await before.startBatch(openaiBatch.id, { owner: "validator", total: 3, model: MODEL, errors: null, nowMs: T0 + 1 });
  const [running] = await before.claimItems({ owner: "old", model: MODEL, limit: 1, nowMs: T0 + 2, leaseMs: LEASE_MS });
  await expect(before.createBatch(newBatch({ dialect: "anthropic" }))).rejects.toThrow();
  const rowsBefore = await database.query("SELECT id, dialect, seq, status, total_items FROM batches ORDER BY seq");

  const after = await database.open();
  await after.migrate();
  expect(await database.query("SELECT id FROM migrations WHERE id = 6")).toHaveLength(1);
  expect(await database.query("SELECT id, dialect, seq, status, total_items FROM batches ORDER BY seq")).toEqual(rowsBefore);
  expect(rowsBefore.map((row) => [row.id, row.dialect])).toEqual([[openaiBatch.id, "openai"], [geminiBatch.id, "gemini"]]);

  expect(await after.completeItems([completion(running!, "old", T0 + 3)], T0 + 3)).toBe(1);
  const rest = await after.claimItems({ owner: "new", model: MODEL, limit: 10, nowMs: T0 + 4, leaseMs: LEASE_MS });
  await after.completeItems(rest.map((item) => completion(item, "new", T0 + 5)), T0 + 5);
  expect((await allItems(after, openaiBatch.id)).map((item) => item.status)).toEqual(["succeeded", "succeeded", "succeeded"]);
  await expectCountsMatchItems(after, openaiBatch.id);

  const anthropicBatch = await after.createBatch(newBatch({ dialect: "anthropic", endpoint: "/v1/messages", createdAtMs: T0 + 6 }));
  expect((await after.getBatch(anthropicBatch.id))?.dialect).toBe("anthropic");
  expect((await after.listBatches({ limit: 10 })).batches.map((batch) => batch.id)).toEqual([anthropicBatch.id, geminiBatch.id, openaiBatch.id]);
  await expect(after.createBatch(newBatch({ dialect: "klingon" as never }))).rejects.toThrow();
}

describe.runIf(storeBackends.some((backend) => backend.name === "sqlite"))("sqlite store: upgrade to the anthropic dialect (migration 006)", () => {
  it("upgrades a data dir made by the previous schema in place, rows, keys and indexes kept", async () => {
    const file = testWorkPath("stores", "sqlite upgrade to anthropic dialect", ".sqlite");
    const old = new SqliteDatabase(file);
    migrateSqlite(old, T0, sqliteMigrations().filter((migration) => BEFORE_006(migration.id)));
    old.close();
    const query = async (sql: string): Promise<Record<string, unknown>[]> => {
      const db = new SqliteDatabase(file);
      try {
        const statement = db.connection.prepare(sql);
        return statement.reader ? (statement.all() as Record<string, unknown>[]) : (statement.run(), []);
      } finally {
        db.close();
      }
    };
    await upgradeWithWorkInFlight({
      async open() {
        const store = await openSqliteStore(file);
        opened.push(store);
        return store;
      },
      query,
    });
    expect(await query("SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'batches' AND name = 'batches_status_seq'")).toHaveLength(1);
    await expect(query(`INSERT INTO items (batch_id, idx, batch_seq, model, kind, status) VALUES ('batch_missing', 0, 1, 'm', 'chat', 'pending')`)).rejects.toThrow(/FOREIGN KEY/);
    expect(await query("PRAGMA foreign_key_check")).toEqual([]);
    expect(await query("PRAGMA integrity_check")).toEqual([{ integrity_check: "ok" }]);
  });
});

describe.runIf(storeBackends.some((backend) => backend.name === "postgres"))("postgres store: upgrade to the anthropic dialect (migration 006)", () => {
  it("upgrades a schema made by the previous version in place, rows, keys and indexes kept", async () => {
    const schema = await freshTestSchema("postgres upgrade to anthropic dialect");
    const open = async (): Promise<PostgresStore> => {
      const store = await openPostgresStore(TEST_DATABASE_URL, { schema, poolSize: 2 });
      opened.push(store);
      return store;
    };
    const old = await open();
    await migratePostgres(old.db, T0, postgresMigrations().filter((migration) => BEFORE_006(migration.id)));
    await upgradeWithWorkInFlight({
      open,
      async query(sql) {
        const store = await openPostgresStore(TEST_DATABASE_URL, { schema, poolSize: 1 });
        try {
          return (await store.db.query<Record<string, unknown>>(sql)).rows.map((row) => Object.fromEntries(Object.entries(row).map(([key, value]) => [key, typeof value === "string" && /^\d+$/.test(value) && key !== "id" ? Number(value) : value])));
        } finally {
          await store.close();
        }
      },
    });
  });
});
