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
  migrations.forEach((migration, position) => {
    if (migration.id !== position + 1) throw new Error(`${store} migrations must be numbered 1, 2, 3...: found ${migration.id} at position ${position + 1}.`);
  });
  return migrations;
}
