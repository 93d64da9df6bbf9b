/** PostgreSQL for benchmarks: the test database (test/helpers/postgres.ts), one fresh schema per run. */
import pg from "pg";
import { TEST_DATABASE_URL } from "../test/helpers/postgres.ts";

/**
 * A database URL whose `schema` parameter names a new, empty schema (spool's migrations fill it). Its
 * `application_name` is the schema's name too (node-postgres lets the URL override spool's "spool"), so
 * dropSchemaOf can find the connections of the spool processes that used it.
 */
export async function freshSchemaUrl(label: string): Promise<string> {
  const schema = `bench_${label}_${Date.now().toString(36)}`;
  await withClient((client) => client.query(`CREATE SCHEMA ${pg.escapeIdentifier(schema)}`));
  const url = new URL(TEST_DATABASE_URL);
  url.searchParams.set("schema", schema);
  url.searchParams.set("application_name", schema);
  return url.toString();
}

/**
 * Drops the schema of a URL made by freshSchemaUrl (a 100k run leaves hundreds of MB otherwise). First ends
 * the statements spool processes of this run left behind: a killed client's statement runs on in the server
 * (a stuck one for hours, holding the locks DROP needs).
 */
export async function dropSchemaOf(databaseUrl: string): Promise<void> {
  const schema = new URL(databaseUrl).searchParams.get("schema");
  if (schema === null) return;
  await withClient(async (client) => {
    await client.query("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1 AND pid <> pg_backend_pid()", [schema]);
    await client.query(`DROP SCHEMA IF EXISTS ${pg.escapeIdentifier(schema)} CASCADE`);
  });
}

async function withClient(work: (client: pg.Client) => Promise<unknown>): Promise<void> {
  const client = new pg.Client({ connectionString: TEST_DATABASE_URL });
  await client.connect();
  try {
    await work(client);
  } finally {
    await client.end();
  }
}
