/**
 * Reads a store's numbered, append-only migration files (`NNN-name.sql`) in id order. Both stores keep their
 * own SQL (the dialects differ) but share this reading and its numbering check (unique, from 1 up).
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
  // Numbers must be unique and increasing. A gap is allowed while migrations written side by side are
  // merged (007 may land before 005 and 006): the ledger records ids, so each applies once whatever the order.
  migrations.forEach((migration, position) => {
    const previous = migrations[position - 1];
    if (migration.id < 1 || (previous !== undefined && previous.id === migration.id)) {
      throw new Error(`${store} migrations must have unique numbers from 1 up: found ${migration.id} twice or out of range.`);
    }
  });
  return migrations;
}
