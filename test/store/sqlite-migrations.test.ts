import Database from "better-sqlite3";
import { afterEach, describe, expect, it } from "vitest";
import { openSqliteStore } from "../../src/store/sqlite/index.ts";
import { loadMigrations } from "../../src/store/sqlite/migrate.ts";
import { BATCH_STATUSES, ITEM_STATUSES, type Store } from "../../src/store/store.ts";
import { testWorkPath } from "../helpers/test-dirs.ts";
import { undoMigrationsSql } from "./previous-schemas.ts";
import { allItems, completion, LEASE_MS, MODEL, startedBatch, T0 } from "./store-fixtures.ts";

describe("sqlite store: migrations", () => {
  const opened: Store[] = [];
  afterEach(async () => {
    await Promise.all(opened.splice(0).map((store) => store.close()));
  });
  const open = async (file: string): Promise<Store> => {
    const store = await openSqliteStore(file);
    opened.push(store);
    return store;
  };
  const ledger = (file: string): { id: number; name: string }[] => {
    const db = new Database(file, { readonly: true });
    try {
      return db.prepare("SELECT id, name FROM migrations ORDER BY id").all() as { id: number; name: string }[];
    } finally {
      db.close();
    }
  };

  it("applies every shipped migration once and records it in the ledger", async () => {
    const file = testWorkPath("stores", "sqlite applies migrations once", ".sqlite");
    await (await open(file)).migrate();
    await (await open(file)).migrate();
    const expected = loadMigrations().map(({ id, name }) => ({ id, name }));
    expect(expected[0]).toEqual({ id: 1, name: "initial" });
    expect(ledger(file)).toEqual(expected);
  });

  it("upgrades a database of the previous schema in place, and its batch in flight finishes", async () => {
    const file = testWorkPath("stores", "sqlite upgrades a previous schema", ".sqlite");
    const before = await open(file);
    await before.migrate();
    const batch = await startedBatch(before, 3);
    const [first] = await before.claimItems({ owner: "old", model: MODEL, limit: 1, nowMs: T0 + 2, leaseMs: LEASE_MS });
    await before.close();
    opened.splice(opened.indexOf(before), 1);
    // Turn the file back into what spool wrote before migration 3: the column under its old name (and no 004).
    const db = new Database(file);
    db.exec(undoMigrationsSql(3));
    db.close();

    const after = await open(file);
    await after.migrate();
    expect(ledger(file).map((row) => row.id)).toEqual(loadMigrations().map((row) => row.id));
    expect(first).toBeDefined();
    await after.completeItems([completion(first!, "old", T0 + 3)], T0 + 3);
    const rest = await after.claimItems({ owner: "new", model: MODEL, limit: 10, nowMs: T0 + 4, leaseMs: LEASE_MS });
    expect(rest.map((item) => item.clientId)).toEqual(["req-1", "req-2"]);
    await after.completeItems(rest.map((item) => completion(item, "new", T0 + 5)), T0 + 5);
    const items = await allItems(after, batch.id);
    expect(items.map((item) => [item.clientId, item.status])).toEqual([["req-0", "succeeded"], ["req-1", "succeeded"], ["req-2", "succeeded"]]);
    expect(await after.findBatchesToFinalize(T0 + 6, 10)).toEqual([{ batchId: batch.id, status: "completed" }]);
  });

  it("refuses to start against a database migrated by a newer spool", async () => {
    const file = testWorkPath("stores", "sqlite refuses newer database", ".sqlite");
    await (await open(file)).migrate();
    const db = new Database(file);
    db.prepare("INSERT INTO migrations (id, name, applied_at_ms) VALUES (999, 'from-the-future', 0)").run();
    db.close();
    const store = await open(file);
    await expect(store.migrate()).rejects.toThrow(/newer version of spool \(migration 999; this version knows up to \d+\)/);
  });

  it("keeps the database file in WAL mode so readers run beside the writer", async () => {
    const file = testWorkPath("stores", "sqlite pragmas", ".sqlite");
    await (await open(file)).migrate();
    const db = new Database(file, { readonly: true });
    expect(db.pragma("journal_mode", { simple: true })).toBe("wal");
    db.close();
  });

  it("constrains status columns to exactly the statuses the contract lists", async () => {
    const file = testWorkPath("stores", "sqlite status checks", ".sqlite");
    await (await open(file)).migrate();
    const db = new Database(file, { readonly: true });
    const tableSql = (name: string): string => (db.prepare("SELECT sql FROM sqlite_master WHERE name = ?").get(name) as { sql: string }).sql;
    const checkList = (sql: string): string[] => {
      const match = /\bstatus\s+TEXT\s+NOT NULL CHECK \(status IN \(([^)]*)\)\)/.exec(sql);
      return (match?.[1] ?? "").split(",").map((value) => value.trim().replace(/'/g, ""));
    };
    expect(checkList(tableSql("batches"))).toEqual([...BATCH_STATUSES]);
    expect(checkList(tableSql("items"))).toEqual([...ITEM_STATUSES]);
    db.close();
  });
});
