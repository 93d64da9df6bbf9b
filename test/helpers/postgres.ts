/**
 * PostgreSQL for tests: one real database (SPOOL_TEST_DATABASE_URL, default the local server with trust
 * auth; .ci/run starts a throwaway cluster when none is running) and one fresh schema per test, named after
 * the test (`t_<test name>_<random>`) and kept after the run so a failing test's rows can be inspected:
 *   psql postgres://postgres@127.0.0.1:5432/postgres -c '\dn t_*'
 * Each `vitest` run drops those named more than half an hour before (global-setup.ts); dropTestSchemas()
 * drops them all.
 */
import { randomBytes } from "node:crypto";
import pg from "pg";
import { openPostgresStore, type PostgresStore } from "../../src/store/postgres/index.ts";
import { PostgresBlobStore, type PostgresBlobStoreOptions } from "../../src/store/blob/postgres-blob-store.ts";

export const TEST_DATABASE_URL = process.env.SPOOL_TEST_DATABASE_URL ?? "postgres://postgres@127.0.0.1:5432/postgres";

/**
 * `postgres store: claims > hands out items` -> `t_postgres_store_claims_hands_out_items_mifq0k2w_1a2b3c`
 * (<= 63 chars): the test, when the schema was named (base 36 ms), and a random part.
 */
export function testSchemaName(testName: string): string {
  const slug = testName
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, "_")
    .replace(/^_+|_+$/g, "")
    .slice(0, 42)
    .replace(/_+$/, "");
  return `t_${slug || "test"}_${Date.now().toString(36)}_${randomBytes(3).toString("hex")}`;
}

/** When testSchemaName named `schema` (ms), or null for a name it did not make. */
function namedAtMs(schema: string): number | null {
  const match = /_([0-9a-z]{8,9})_[0-9a-f]{6}$/.exec(schema);
  return match ? parseInt(match[1]!, 36) : null;
}

let availability: Promise<string | null> | null = null;

/** Null when the test database answers within a few seconds; otherwise why not. Checked once per process. */
export function postgresUnavailableReason(): Promise<string | null> {
  availability ??= (async () => {
    const client = new pg.Client({ connectionString: TEST_DATABASE_URL, connectionTimeoutMillis: 3_000 });
    try {
      await client.connect();
      await client.query("SELECT 1");
      return null;
    } catch (error) {
      return `PostgreSQL is not reachable at ${TEST_DATABASE_URL} (${(error as Error).message}). Start it (.ci/run does), set SPOOL_TEST_DATABASE_URL, or run with SPOOL_TEST_STORES=sqlite,sqlite-thread.`;
    } finally {
      await client.end().catch(() => undefined);
    }
  })();
  return availability;
}

/** Throws a clear error (instead of a connection timeout deep in a test) when the database is down. */
export async function requirePostgres(): Promise<void> {
  const reason = await postgresUnavailableReason();
  if (reason !== null) throw new Error(reason);
}

/** A fresh schema name for `testName` (the schema itself is created by the Store's migrate()). */
export async function freshTestSchema(testName: string): Promise<string> {
  await requirePostgres();
  return testSchemaName(testName);
}

/** `count` migrated PostgresStores on one fresh schema, each with its own pool (as separate processes). */
export async function openTestPostgresStores(testName: string, count = 1, options: { poolSize?: number } = {}): Promise<{ schema: string; stores: PostgresStore[] }> {
  const schema = await freshTestSchema(testName);
  const stores: PostgresStore[] = [];
  for (let i = 0; i < count; i += 1) {
    const store = await openPostgresStore(TEST_DATABASE_URL, { schema, poolSize: options.poolSize ?? 4 });
    await store.migrate();
    stores.push(store);
  }
  return { schema, stores };
}

/** A PostgresBlobStore on `schema` (migrate a Store on it first: the blob tables come from its migrations). */
export function openTestBlobStore(schema: string, options: Omit<PostgresBlobStoreOptions, "schema"> = {}): PostgresBlobStore {
  return new PostgresBlobStore(TEST_DATABASE_URL, { poolSize: 4, ...options, schema });
}

/**
 * Makes every UPDATE of `table` in `schema` fail (a row trigger that raises) until the returned function
 * drops the trigger again: a real database error, for tests of what callers do when a write fails.
 */
export async function failUpdatesInSchema(schema: string, table: string, { operation = "UPDATE", when }: { operation?: "UPDATE" | "INSERT"; when?: string } = {}): Promise<() => Promise<void>> {
  const trigger = pg.escapeIdentifier(`spool_test_fail_${table}`);
  const target = `${pg.escapeIdentifier(schema)}.${pg.escapeIdentifier(table)}`;
  const fn = `${pg.escapeIdentifier(schema)}.${trigger}`;
  await withClient(async (client) => {
    await client.query(`CREATE FUNCTION ${fn}() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION '${operation.toLowerCase()}s of ${table} fail on purpose (test)'; END $$`);
    await client.query(`CREATE TRIGGER ${trigger} BEFORE ${operation} ON ${target} FOR EACH ROW ${when ? `WHEN (${when})` : ""} EXECUTE FUNCTION ${fn}()`);
  });
  return () =>
    withClient(async (client) => {
      await client.query(`DROP TRIGGER ${trigger} ON ${target}`);
      await client.query(`DROP FUNCTION ${fn}()`);
    });
}

/** Runs `work` on a connection of its own to the test database (outside any Store), closed afterwards. */
export async function withClient(work: (client: pg.Client) => Promise<void>): Promise<void> {
  const client = new pg.Client({ connectionString: TEST_DATABASE_URL });
  await client.connect();
  try {
    await work(client);
  } finally {
    await client.end();
  }
}

/** Drops the test schemas (`t_...`) in the test database: all, or those named before `namedBeforeMs`. */
export async function dropTestSchemas(namedBeforeMs = Infinity): Promise<number> {
  const client = new pg.Client({ connectionString: TEST_DATABASE_URL });
  await client.connect();
  try {
    const { rows } = await client.query<{ nspname: string }>("SELECT nspname FROM pg_namespace WHERE nspname LIKE 't\\_%'");
    const old = rows.filter((row) => (namedAtMs(row.nspname) ?? 0) < namedBeforeMs);
    for (const row of old) await client.query(`DROP SCHEMA ${pg.escapeIdentifier(row.nspname)} CASCADE`);
    return old.length;
  } finally {
    await client.end();
  }
}
