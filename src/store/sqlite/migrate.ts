/**
 * Numbered, append-only migrations (`migrations/NNN-name.sql`) recorded in a ledger table. Each migration
 * runs in its own IMMEDIATE transaction together with its ledger row, and is re-checked inside the
 * transaction, so two processes starting at once apply it exactly once.
 *
 * A database whose ledger holds a migration this code does not know was written by a newer spool: we
 * refuse to touch it rather than run old code against a schema it cannot understand.
 */
import { AppError } from "../../core/errors.ts";
import type { SqliteDatabase } from "./database.ts";
import { readMigrations, type Migration } from "../shared/migration-files.ts";

export type { Migration };

/** The migrations shipped with this code, in id order. */
export function loadMigrations(): Migration[] {
  return readMigrations(new URL("./migrations/", import.meta.url), "SQLite");
}

export function migrate(db: SqliteDatabase, nowMs: number, migrations: readonly Migration[] = loadMigrations()): void {
  db.connection.exec("CREATE TABLE IF NOT EXISTS migrations (id INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at_ms INTEGER NOT NULL)");
  const latestKnown = migrations.at(-1)?.id ?? 0;
  const appliedIds = (): Set<number> => new Set((db.connection.prepare("SELECT id FROM migrations").all() as { id: number }[]).map((row) => row.id));

  const newest = Math.max(0, ...appliedIds());
  if (newest > latestKnown) {
    throw new AppError(
      "conflict",
      `The database ${db.filePath} was migrated by a newer version of spool (migration ${newest}; this version knows up to ${latestKnown}). ` +
        "Upgrade spool, or point it at another data directory.",
    );
  }
  for (const migration of migrations) {
    db.immediate(() => {
      if (appliedIds().has(migration.id)) return;
      db.connection.exec(migration.sql);
      db.connection.prepare("INSERT INTO migrations (id, name, applied_at_ms) VALUES (?, ?, ?)").run(migration.id, migration.name, nowMs);
    });
  }
}
