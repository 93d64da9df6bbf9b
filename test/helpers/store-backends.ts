/**
 * The Store backends the conformance suite (test/store/) runs against. Every backend gets the same tests.
 *
 * Choose with SPOOL_TEST_STORES, a comma list of backend names (default: all). Adding a backend is one more
 * entry in BACKENDS. Each test gets a fresh database named after it and kept afterwards for inspection:
 * a SQLite file under test/.work/stores/, or a PostgreSQL schema (see postgres.ts).
 */
import Database from "better-sqlite3";
import { afterEach, expect } from "vitest";
import { openSqliteStore } from "../../src/store/sqlite/index.ts";
import { openThreadedSqliteStore } from "../../src/store/sqlite/thread/threaded-store.ts";
import type { Store } from "../../src/store/store.ts";
import pg from "pg";
import { failUpdatesInSchema, openTestPostgresStores, withClient } from "./postgres.ts";
import { testWorkPath } from "./test-dirs.ts";

export interface StoreBackend {
  name: string;
  /** A fresh, migrated Store for one test. */
  open(testName: string): Promise<Store>;
  /**
   * `count` Stores on one fresh database, each with its own connection, as separate spool processes
   * would see it (for races between Workers).
   */
  openShared(testName: string, count: number): Promise<Store[]>;
  /**
   * Makes every UPDATE of `table` fail in the database behind `store` (one this backend opened) until the
   * returned function is called: a real database error (a trigger that raises), not a stubbed Store.
   * `options` fail INSERTs instead, and only rows for which the SQL condition `when` (on NEW) holds.
   */
  failUpdates(store: Store, table: string, options?: FailOptions): Promise<() => Promise<void>>;
  /** Rows of `table` in the database behind `store` for Batch `batchId`, counted from outside the Store. */
  countRows(store: Store, table: string, batchId: string): Promise<number>;
}

export interface FailOptions {
  operation?: "UPDATE" | "INSERT";
  /** A condition on NEW, e.g. `NEW.idx >= 10`, in SQL both stores read alike. */
  when?: string;
}

/** Where each opened Store keeps its data, so failUpdates can reach the same database from outside. */
const sqliteFiles = new WeakMap<Store, string>();
const postgresSchemas = new WeakMap<Store, string>();

function locationOf(locations: WeakMap<Store, string>, store: Store): string {
  const location = locations.get(store);
  if (location === undefined) throw new Error("failUpdates needs a Store opened by the same backend.");
  return location;
}

/** SQLite, opened in this thread (`openSqliteStore`) or on a thread of its own as `serve` runs it. */
function sqliteBackend(name: string, openFile: (file: string) => Promise<Store>): StoreBackend {
  return {
  name,
  async open(testName) {
    const [store] = await this.openShared(testName, 1);
    return store as Store;
  },
  async openShared(testName, count) {
    const file = testWorkPath("stores", testName, ".sqlite");
    const stores: Store[] = [];
    for (let i = 0; i < count; i += 1) {
      const store = await openFile(file);
      await store.migrate();
      sqliteFiles.set(store, file);
      stores.push(store);
    }
    return stores;
  },
  async failUpdates(store, table, { operation = "UPDATE", when }: FailOptions = {}) {
    const file = locationOf(sqliteFiles, store);
    const trigger = `spool_test_fail_${table}`;
    const exec = (sql: string): void => {
      const side = new Database(file);
      try {
        side.pragma("busy_timeout = 5000");
        side.exec(sql);
      } finally {
        side.close();
      }
    };
    exec(`CREATE TRIGGER "${trigger}" BEFORE ${operation} ON "${table}" ${when ? `WHEN ${when}` : ""} BEGIN SELECT RAISE(ABORT, '${operation.toLowerCase()}s of ${table} fail on purpose (test)'); END`);
    return async () => exec(`DROP TRIGGER "${trigger}"`);
  },
  async countRows(store, table, batchId) {
    const side = new Database(locationOf(sqliteFiles, store), { readonly: true });
    try {
      return (side.prepare(`SELECT COUNT(*) AS n FROM "${table}" WHERE batch_id = ?`).get(batchId) as { n: number }).n;
    } finally {
      side.close();
    }
  },
  };
}

const sqlite = sqliteBackend("sqlite", (file) => openSqliteStore(file));
const sqliteThread = sqliteBackend("sqlite-thread", (file) => openThreadedSqliteStore(file));

/** One fresh schema per test (see postgres.ts), each Store with its own pool. */
const postgres: StoreBackend = {
  name: "postgres",
  async open(testName) {
    const [store] = await this.openShared(testName, 1);
    return store as Store;
  },
  async openShared(testName, count) {
    const { schema, stores } = await openTestPostgresStores(testName, count);
    for (const store of stores) postgresSchemas.set(store, schema);
    return stores;
  },
  failUpdates(store, table, options) {
    return failUpdatesInSchema(locationOf(postgresSchemas, store), table, options);
  },
  async countRows(store, table, batchId) {
    let count = 0;
    await withClient(async (client) => {
      const { rows } = await client.query<{ n: number }>(`SELECT COUNT(*)::int AS n FROM ${pg.escapeIdentifier(locationOf(postgresSchemas, store))}.${pg.escapeIdentifier(table)} WHERE batch_id = $1`, [batchId]);
      count = rows[0]?.n ?? 0;
    });
    return count;
  },
};

const BACKENDS: readonly StoreBackend[] = [sqlite, sqliteThread, postgres];

function selectBackends(): StoreBackend[] {
  const wanted = process.env.SPOOL_TEST_STORES?.split(",").map((name) => name.trim()).filter(Boolean);
  if (!wanted || wanted.length === 0) return [...BACKENDS];
  const unknown = wanted.filter((name) => !BACKENDS.some((backend) => backend.name === name));
  if (unknown.length > 0) {
    throw new Error(`SPOOL_TEST_STORES names unknown store backends: ${unknown.join(", ")}. Known: ${BACKENDS.map((b) => b.name).join(", ")}.`);
  }
  return BACKENDS.filter((backend) => wanted.includes(backend.name));
}

export const storeBackends: readonly StoreBackend[] = selectBackends();

/**
 * For use inside a `describe`: opens Stores named after the running test and closes them after it.
 */
export function useStores(backend: StoreBackend): { open(): Promise<Store>; openShared(count: number): Promise<Store[]> } {
  const opened: Store[] = [];
  afterEach(async () => {
    const closing = opened.splice(0);
    await Promise.all(closing.map((store) => store.close()));
  });
  const testName = (): string => `${backend.name} ${expect.getState().currentTestName ?? "store"}`;
  return {
    async open() {
      const store = await backend.open(testName());
      opened.push(store);
      return store;
    },
    async openShared(count) {
      const stores = await backend.openShared(testName(), count);
      opened.push(...stores);
      return stores;
    },
  };
}
