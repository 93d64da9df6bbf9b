/**
 * Chooses the Store and BlobStore for a Config: SQLite + files in the data dir by default; PostgreSQL for
 * both when a database URL is given (every process must see every file).
 */
import path from "node:path";
import type { Config } from "../config/config.ts";
import type { BlobStore } from "./blob-store.ts";
import type { Store } from "./store.ts";
import { openSqliteStore } from "./sqlite/index.ts";
import { LocalBlobStore } from "./blob/local-blob-store.ts";

export async function openStores(config: Config): Promise<{ store: Store; blobs: BlobStore }> {
  if (config.databaseUrl) {
    throw new Error("PostgreSQL support is not built yet: remove --database-url to use the embedded SQLite store.");
  }
  const store = await openSqliteStore(path.join(config.dataDir, "spool.sqlite"));
  await store.migrate();
  return { store, blobs: new LocalBlobStore(config.dataDir) };
}
