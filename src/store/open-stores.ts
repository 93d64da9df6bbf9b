/**
 * Chooses the Store and BlobStore for a Config: SQLite + files in the data dir by default; PostgreSQL for
 * both when a database URL is given, so every process sees every Batch and every File.
 *
 * A `schema` query parameter on the URL (`postgres://host/db?schema=spool_prod`) puts spool's tables in that
 * schema (default `public`), so one database can hold several deployments (and tests one schema each).
 * `databaseListenUrl`, when set, is where the wake-up listener connects; the schema is `databaseUrl`'s.
 */
import path from "node:path";
import type { Config } from "../config/config.ts";
import type { StoreLogger } from "./shared/store-logger.ts";
import type { BlobStore } from "./blob-store.ts";
import type { Store } from "./store.ts";
import { openSqliteStore } from "./sqlite/index.ts";
import { openThreadedSqliteStore } from "./sqlite/thread/threaded-store.ts";
import { LocalBlobStore } from "./blob/local-blob-store.ts";

/**
 * `logger` receives the storage failures (full disk, database outage), once each; see store-logger.ts.
 * The PostgreSQL modules (and `pg`, about 10 MB resident) are imported only when a database URL is given.
 */
export async function openStores(config: Config, logger?: StoreLogger, options: { thread?: boolean } = {}): Promise<{ store: Store; blobs: BlobStore }> {
  if (config.databaseUrl) {
    const { url, schema } = splitSchema(config.databaseUrl);
    const [{ openPostgresStore }, { PostgresBlobStore }, { describeTarget }, { DatabaseReachability }] = await Promise.all([
      import("./postgres/index.ts"),
      import("./blob/postgres-blob-store.ts"),
      import("./postgres/connection-errors.ts"),
      import("./postgres/reachability.ts"),
    ]);
    // One view of the database's health for both pools: an outage is logged once, not once per pool.
    const reachability = new DatabaseReachability(describeTarget(url), logger);
    // A schema parameter copied into the listen URL along with the rest is dropped: the channel is databaseUrl's.
    const listenUrl = config.databaseListenUrl === null ? undefined : splitSchema(config.databaseListenUrl).url;
    const store = await openPostgresStore(url, { schema, logger, reachability, listenUrl });
    await store.migrate();
    return { store, blobs: new PostgresBlobStore(url, { schema, logger, reachability }) };
  }
  const filePath = sqliteFileOf(config.dataDir);
  const store = options.thread ? await openThreadedSqliteStore(filePath, { logger }) : await openSqliteStore(filePath, { logger });
  await store.migrate();
  return { store, blobs: new LocalBlobStore(config.dataDir, { logger }) };
}

/** The embedded store's database file in a data dir. */
export function sqliteFileOf(dataDir: string): string {
  return path.join(dataDir, "spool.sqlite");
}

function splitSchema(databaseUrl: string): { url: string; schema: string | undefined } {
  let parsed: URL;
  try {
    parsed = new URL(databaseUrl);
  } catch {
    throw new Error(`databaseUrl is not a valid URL: use postgres://user@host:5432/database.`);
  }
  if (parsed.protocol !== "postgres:" && parsed.protocol !== "postgresql:") {
    throw new Error(`databaseUrl must start with postgres:// or postgresql://, got '${parsed.protocol}'.`);
  }
  const schema = parsed.searchParams.get("schema") ?? undefined;
  parsed.searchParams.delete("schema");
  return { url: parsed.toString(), schema };
}
