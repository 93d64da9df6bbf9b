/**
 * Reads a store's numbered, append-only migration files (`NNN-name.sql`) in id order. Both stores keep their
 * own SQL (the dialects differ) but share this reading and its numbering check.
 */
import { readdirSync, readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";

export interface Migration {
  id: number;
  name: string;
  sql: string;
}

/** `directory` is a file URL ending in `/`; `store` names the store in the numbering error. */
export function readMigrations(directory: URL, store: string): Migration[] {
  const migrations = readdirSync(fileURLToPath(directory))
    .map((file) => /^(\d+)-([a-z0-9-]+)\.sql$/.exec(file))
    .filter((match): match is RegExpExecArray => match !== null)
    .map((match) => ({
      id: Number(match[1]),
      name: match[2] ?? "",
      sql: readFileSync(fileURLToPath(new URL(match[0], directory)), "utf8"),
    }))
    .sort((a, b) => a.id - b.id);
  // Numbers may leave gaps: branches developed side by side reserve theirs (issue 10's 004 was written
  // before 003 existed). Order is what matters, and pendingMigrations refuses to apply out of it.
  migrations.forEach((migration, position) => {
    const previous = migrations[position - 1];
    if (migration.id < 1 || (previous !== undefined && migration.id <= previous.id)) {
      throw new Error(`${store} migrations must have distinct, increasing numbers from 1: found ${migration.id} after ${previous?.id ?? "nothing"}.`);
    }
  });
  return migrations;
}

/**
 * The migrations still to apply, given the ids in the ledger. Throws when the ledger holds a migration this
 * code does not know (a newer spool wrote it), or lacks one older than the newest it holds (it was migrated
 * by a build with another list, and applying the missing one now would run it out of order).
 * `database` names the database in the messages.
 */
export function pendingMigrations(migrations: readonly Migration[], applied: ReadonlySet<number>, database: string, elsewhere: string): Migration[] {
  const latestKnown = migrations.at(-1)?.id ?? 0;
  const newest = Math.max(0, ...applied);
  if (newest > latestKnown) {
    throw new Error(
      `${database} was migrated by a newer version of spool (migration ${newest}; this version knows up to ${latestKnown}). ` +
        `Upgrade spool, or point it at ${elsewhere}.`,
    );
  }
  const pending = migrations.filter((migration) => !applied.has(migration.id));
  const skipped = pending.find((migration) => migration.id < newest);
  if (skipped) {
    throw new Error(`${database} has migration ${newest} but not ${skipped.id}: it was migrated by a different build of spool. Point it at ${elsewhere}.`);
  }
  return pending;
}
