/**
 * Chooses the Store and BlobStore for a Config: SQLite + files in the data dir by default; PostgreSQL for
 * both when a database URL is given, so every process sees every Batch and every File.
 *
 * A `schema` query parameter on the URL (`postgres://host/db?schema=spool_prod`) puts spool's tables in that
 * schema (default `public`), so one database can hold several deployments (and tests one schema each).
 */
import path from "node:path";
import type { Config } from "../config/config.ts";
import type { BlobStore } from "./blob-store.ts";
import type { Store } from "./store.ts";
import { openSqliteStore } from "./sqlite/index.ts";
import { LocalBlobStore } from "./blob/local-blob-store.ts";
import { openPostgresStore } from "./postgres/index.ts";
import { PostgresBlobStore } from "./blob/postgres-blob-store.ts";

export async function openStores(config: Config): Promise<{ store: Store; blobs: BlobStore }> {
  if (config.databaseUrl) {
    const { url, schema } = splitSchema(config.databaseUrl);
    const store = await openPostgresStore(url, { schema });
    await store.migrate();
    return { store, blobs: new PostgresBlobStore(url, { schema }) };
  }
  const store = await openSqliteStore(path.join(config.dataDir, "spool.sqlite"));
  await store.migrate();
  return { store, blobs: new LocalBlobStore(config.dataDir) };
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
