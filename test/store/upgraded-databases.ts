/**
 * A database for upgrade tests on either store: a Store opened on it (migrated to the newest schema) and
 * SQL run on it from outside any Store, such as previous-schemas.ts' undo of newer migrations. Stores it
 * opens are listed in `opened` for the test file's afterEach to close.
 */
import Database from "better-sqlite3";
import { openPostgresStore } from "../../src/store/postgres/index.ts";
import { openSqliteStore } from "../../src/store/sqlite/index.ts";
import type { Store } from "../../src/store/store.ts";
import { freshTestSchema, TEST_DATABASE_URL } from "../helpers/postgres.ts";
import { testWorkPath } from "../helpers/test-dirs.ts";

export interface UpgradedDatabase {
  /** A Store on the database, migrated to the newest schema. */
  open(): Promise<Store>;
  /** Runs SQL on the database from outside any Store; returns the rows of its last statement. */
  exec(sql: string): Promise<Record<string, unknown>[]>;
  backend: "sqlite" | "postgres";
}

export function sqliteDatabase(name: string, opened: Store[]): UpgradedDatabase {
  const file = testWorkPath("stores", name, ".sqlite");
  return {
    backend: "sqlite",
    async open() {
      const store = await openSqliteStore(file);
      opened.push(store);
      await store.migrate();
      return store;
    },
    async exec(sql) {
      const db = new Database(file);
      try {
        if (sql.trimStart().startsWith("SELECT")) return db.prepare(sql).all() as Record<string, unknown>[];
        db.exec(sql);
        return [];
      } finally {
        db.close();
      }
    },
  };
}

export async function postgresDatabase(name: string, opened: Store[]): Promise<UpgradedDatabase> {
  const schema = await freshTestSchema(name);
  return {
    backend: "postgres",
    async open() {
      const store = await openPostgresStore(TEST_DATABASE_URL, { schema, poolSize: 2 });
      opened.push(store);
      await store.migrate();
      return store;
    },
    async exec(sql) {
      const store = await openPostgresStore(TEST_DATABASE_URL, { schema, poolSize: 1 });
      try {
        const result: unknown = await store.db.query(sql);
        const last = Array.isArray(result) ? result.at(-1) : result;
        return (last as { rows?: Record<string, unknown>[] } | undefined)?.rows ?? [];
      } finally {
        await store.close();
      }
    },
  };
}
