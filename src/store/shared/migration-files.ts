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
  // Numbers are unique and rising; a gap is allowed while a migration numbered before a merged one is still
  // on its way (each runs once by its own id, so 5 arriving after 6 was applied still runs).
  migrations.forEach((migration, position) => {
    const previous = migrations[position - 1]?.id ?? 0;
    if (migration.id <= previous) throw new Error(`${store} migrations must have unique, rising numbers: found ${migration.id} after ${previous}.`);
  });
  return migrations;
}
