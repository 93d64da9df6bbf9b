import pg from "pg";
import { afterEach, describe, expect, it } from "vitest";
import { PostgresDatabase } from "../../src/store/postgres/database.ts";
import { loadMigrations, migrate } from "../../src/store/postgres/migrate.ts";
import { openPostgresStore } from "../../src/store/postgres/index.ts";
import { BATCH_STATUSES, ITEM_STATUSES } from "../../src/store/store.ts";
import { freshTestSchema, TEST_DATABASE_URL } from "../helpers/postgres.ts";

describe("postgres store: migrations", () => {
  const opened: { close(): Promise<void> }[] = [];
  afterEach(async () => {
    await Promise.all(opened.splice(0).map((resource) => resource.close()));
  });
  const database = (schema: string): PostgresDatabase => {
    const db = new PostgresDatabase(TEST_DATABASE_URL, { schema, poolSize: 2 });
    opened.push(db);
    return db;
  };
  const ledger = async (db: PostgresDatabase): Promise<{ id: number; name: string }[]> =>
    (await db.query<{ id: number; name: string }>("SELECT id, name FROM migrations ORDER BY id")).rows;

  it("three processes migrating one fresh schema at once apply each migration exactly once", async () => {
    const schema = await freshTestSchema("postgres concurrent migrate");
    const [a, b, c] = [database(schema), database(schema), database(schema)];
    const applied = await Promise.all([migrate(a, 1), migrate(b, 2), migrate(c, 3)]);
    const shipped = loadMigrations().map(({ id, name }) => ({ id, name }));
    // Exactly one of the three did the work; the others waited on the lock and found nothing to do.
    expect(applied.filter((ids) => ids.length > 0)).toEqual([shipped.map(({ id }) => id)]);
    expect(applied.filter((ids) => ids.length === 0)).toHaveLength(2);
    expect(await ledger(a)).toEqual(shipped);
    expect(shipped[0]).toEqual({ id: 1, name: "initial" });
  });

  it("migrating again is a no-op, and a Store opened on a migrated schema works", async () => {
    const schema = await freshTestSchema("postgres migrate twice");
    const store = await openPostgresStore(TEST_DATABASE_URL, { schema });
    opened.push(store);
    await store.migrate();
    await store.migrate();
    expect(await ledger(store.db)).toHaveLength(loadMigrations().length);
    expect(await store.getBatch("batch_missing")).toBeNull();
  });

  it("refuses to start against a schema migrated by a newer spool", async () => {
    const schema = await freshTestSchema("postgres refuses newer schema");
    const db = database(schema);
    await migrate(db, 1);
    await db.query("INSERT INTO migrations (id, name, applied_at_ms) VALUES (999, 'from-the-future', 0)");
    await expect(migrate(database(schema), 2)).rejects.toThrow(/migrated by a newer version of spool \(migration 999; this version knows up to \d+\)/);
    const store = await openPostgresStore(TEST_DATABASE_URL, { schema });
    opened.push(store);
    await expect(store.migrate()).rejects.toThrow(/newer version of spool/);
  });

  it("keeps schemas apart: tables land in the configured schema only", async () => {
    const [first, second] = [await freshTestSchema("postgres schema a"), await freshTestSchema("postgres schema b")];
    await migrate(database(first), 1);
    const client = new pg.Client({ connectionString: TEST_DATABASE_URL });
    await client.connect();
    try {
      const { rows } = await client.query<{ table_schema: string }>(
        "SELECT DISTINCT table_schema FROM information_schema.tables WHERE table_name = 'items' AND table_schema = ANY($1::text[])",
        [[first, second]],
      );
      expect(rows.map((row) => row.table_schema)).toEqual([first]);
    } finally {
      await client.end();
    }
  });

  it("has CHECK lists that match the statuses of the store contract", async () => {
    const schema = await freshTestSchema("postgres status checks");
    const db = database(schema);
    await migrate(db, 1);
    const { rows } = await db.query<{ table_name: string; definition: string }>(
      `SELECT rel.relname AS table_name, pg_get_constraintdef(con.oid) AS definition
       FROM pg_constraint con JOIN pg_class rel ON rel.oid = con.conrelid JOIN pg_namespace ns ON ns.oid = rel.relnamespace
       WHERE ns.nspname = $1 AND con.contype = 'c' AND pg_get_constraintdef(con.oid) LIKE '%(status %'`,
      [schema],
    );
    const listed = (table: string): string[] => {
      const definition = rows.find((row) => row.table_name === table)?.definition ?? "";
      return [...definition.matchAll(/'([a-z_]+)'/g)].map((match) => match[1] ?? "");
    };
    expect(listed("batches")).toEqual([...BATCH_STATUSES]);
    expect(listed("items")).toEqual([...ITEM_STATUSES]);
  });

  it("rejects a schema name that is not a plain identifier", () => {
    expect(() => new PostgresDatabase(TEST_DATABASE_URL, { schema: "x; DROP TABLE y" })).toThrow(/Invalid PostgreSQL schema name/);
  });
});
