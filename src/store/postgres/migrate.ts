/**
 * Numbered, append-only migrations (`migrations/NNN-name.sql`) recorded in a ledger table, applied in one
 * transaction under a transaction-scoped advisory lock keyed by the schema.
 *
 * Several spool processes may start at once against the same database. The advisory lock makes them
 * queue: the first applies every pending migration and commits; the others then take the lock, read the
 * ledger, find nothing left to do and return. DDL is transactional in PostgreSQL, so a process killed
 * mid-migration leaves the schema as it was. (Alternatives that lost: `CREATE TABLE IF NOT EXISTS`
 * everywhere races on the catalog and cannot express ALTERs; a LOCK TABLE on the ledger needs the ledger
 * to exist first, which is the race we are avoiding.)
 *
 * A ledger holding a migration this code does not know was written by a newer spool: we refuse to run
 * rather than let old code loose on a schema it cannot understand.
 */
import { AppError } from "../../core/errors.ts";
import type { PostgresDatabase } from "./database.ts";
import { readMigrations, type Migration } from "../shared/migration-files.ts";

export type { Migration };

/** The migrations shipped with this code, in id order. */
export function loadMigrations(): Migration[] {
  return readMigrations(new URL("./migrations/", import.meta.url), "PostgreSQL");
}

/** Applies pending migrations; returns the ids this call applied (empty when another process did). */
export async function migrate(db: PostgresDatabase, nowMs: number, migrations: readonly Migration[] = loadMigrations()): Promise<number[]> {
  await db.ensureSchema();
  return db.transaction(async (client) => {
    // Keyed by schema: each schema (each test) migrates independently of the others in the same database.
    await client.query("SELECT pg_advisory_xact_lock(hashtext('spool.migrate:' || current_schema()))");
    await client.query("CREATE TABLE IF NOT EXISTS migrations (id INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at_ms BIGINT NOT NULL)");
    const { rows } = await client.query<{ id: number }>("SELECT id FROM migrations ORDER BY id");
    const applied = new Set(rows.map((row) => row.id));
    const latestKnown = migrations.at(-1)?.id ?? 0;
    const newest = Math.max(0, ...applied);
    if (newest > latestKnown) {
      throw new AppError(
        "conflict",
        `The database schema "${db.schema}" was migrated by a newer version of spool (migration ${newest}; this version knows up to ${latestKnown}). ` +
          "Upgrade spool, or point it at another database or schema.",
      );
    }
    const appliedNow: number[] = [];
    for (const migration of migrations) {
      if (applied.has(migration.id)) continue;
      await client.query(migration.sql);
      await client.query("INSERT INTO migrations (id, name, applied_at_ms) VALUES ($1, $2, $3)", [migration.id, migration.name, nowMs]);
      appliedNow.push(migration.id);
    }
    return appliedNow;
  });
}
