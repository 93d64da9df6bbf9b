/** File metadata (contents live in the BlobStore under the same id). */
import { DEFAULT_TENANT } from "../../core/tenancy.ts";
import type { FileRecord } from "../../core/types.ts";
import { toFileRecord, type FileRow } from "../shared/row-mappers.ts";
import { fileAlreadyExists } from "../shared/store-errors.ts";
import type { FileQuery, NewFile } from "../store.ts";
import { isUniqueViolation, type PostgresDatabase } from "./database.ts";

const FILE_COLUMNS = "id, tenant, purpose, filename, display_name, mime_type, bytes, sha256, source, created_at_ms, expires_at_ms";

/**
 * A data-modifying CTE (`registered`) that writes `files`' records, each replacing any record with its id,
 * as newest (a fresh seq, as delete + insert would give; both in one statement would hit the unique id).
 * Its parameters are numbered from `first`: for finishBatch, which registers result files and finishes the
 * Batch in one round trip.
 */
export function registerFilesCte(files: readonly NewFile[], first: number): { sql: string; params: unknown[] } {
  const p = (offset: number): string => `$${first + offset}`;
  return {
    sql: `registered AS (
      INSERT INTO files (id, purpose, filename, display_name, mime_type, bytes, sha256, source, created_at_ms, expires_at_ms, tenant)
      SELECT * FROM unnest(${p(0)}::text[], ${p(1)}::text[], ${p(2)}::text[], ${p(3)}::text[], ${p(4)}::text[], ${p(5)}::bigint[],
                           ${p(6)}::text[], ${p(7)}::text[], ${p(8)}::bigint[], ${p(9)}::bigint[], ${p(10)}::text[])
      ON CONFLICT (id) DO UPDATE SET seq = DEFAULT, purpose = excluded.purpose, filename = excluded.filename, display_name = excluded.display_name,
        mime_type = excluded.mime_type, bytes = excluded.bytes, sha256 = excluded.sha256, source = excluded.source,
        created_at_ms = excluded.created_at_ms, expires_at_ms = excluded.expires_at_ms, tenant = excluded.tenant)`,
    params: [
      files.map((file) => file.id),
      files.map((file) => file.purpose),
      files.map((file) => file.filename),
      files.map((file) => file.displayName),
      files.map((file) => file.mimeType),
      files.map((file) => file.bytes),
      files.map((file) => file.sha256),
      files.map((file) => file.source),
      files.map((file) => file.createdAtMs),
      files.map((file) => file.expiresAtMs),
      files.map((file) => file.tenant ?? DEFAULT_TENANT),
    ],
  };
}

export async function createFile(db: PostgresDatabase, file: NewFile): Promise<FileRecord> {
  try {
    const { rows } = await db.query<FileRow>(
      `INSERT INTO files (id, purpose, filename, display_name, mime_type, bytes, sha256, source, created_at_ms, expires_at_ms, tenant)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) RETURNING ${FILE_COLUMNS}`,
      [file.id, file.purpose, file.filename, file.displayName, file.mimeType, file.bytes, file.sha256, file.source, file.createdAtMs, file.expiresAtMs, file.tenant ?? DEFAULT_TENANT],
    );
    return toFileRecord(rows[0] as FileRow);
  } catch (error) {
    if (isUniqueViolation(error)) throw fileAlreadyExists(file.id, error);
    throw error;
  }
}

export async function getFile(db: PostgresDatabase, id: string): Promise<FileRecord | null> {
  const { rows } = await db.query<FileRow>(`SELECT ${FILE_COLUMNS} FROM files WHERE id = $1`, [id]);
  return rows[0] ? toFileRecord(rows[0]) : null;
}

/**
 * Pages in insertion order (seq). The cursor is a file id; an unknown cursor (the file was deleted
 * between pages) yields an empty page rather than restarting from the top.
 */
export async function listFiles(db: PostgresDatabase, query: FileQuery): Promise<{ files: FileRecord[]; hasMore: boolean }> {
  const desc = query.order === "desc";
  const { rows } = await db.query<FileRow>(
    `SELECT ${FILE_COLUMNS} FROM files
     WHERE ($1::text IS NULL OR purpose = $1)
       AND ($2::text IS NULL OR seq ${desc ? "<" : ">"} (SELECT seq FROM files WHERE id = $2))
       AND ($4::text IS NULL OR tenant = $4)
     ORDER BY seq ${desc ? "DESC" : "ASC"}
     LIMIT $3`,
    [query.purpose ?? null, query.afterId ?? null, query.limit + 1, query.tenant ?? null],
  );
  return { files: rows.slice(0, query.limit).map(toFileRecord), hasMore: rows.length > query.limit };
}

export async function deleteFile(db: PostgresDatabase, id: string): Promise<boolean> {
  const { rowCount } = await db.query("DELETE FROM files WHERE id = $1", [id]);
  return (rowCount ?? 0) > 0;
}

export async function deleteExpiredFiles(db: PostgresDatabase, nowMs: number, limit: number): Promise<string[]> {
  // SKIP LOCKED: two sweeping processes take disjoint sets instead of waiting on each other.
  const { rows } = await db.query<{ id: string }>(
    `DELETE FROM files WHERE id IN (
       SELECT id FROM files WHERE expires_at_ms IS NOT NULL AND expires_at_ms <= $1 ORDER BY expires_at_ms LIMIT $2 FOR UPDATE SKIP LOCKED)
     RETURNING id`,
    [nowMs, limit],
  );
  return rows.map((row) => row.id);
}
