/** File metadata (contents live in the BlobStore under the same id). */
import { DEFAULT_TENANT } from "../../core/tenancy.ts";
import type { FileRecord } from "../../core/types.ts";
import type { FileQuery, NewFile } from "../store.ts";
import { isUniqueViolation, type SqliteDatabase } from "./database.ts";
import { toFileRecord, type FileRow } from "../shared/row-mappers.ts";
import { fileAlreadyExists } from "../shared/store-errors.ts";

const FILE_COLUMNS = "id, tenant, purpose, filename, display_name, mime_type, bytes, sha256, source, created_at_ms, expires_at_ms";

export function createFile(db: SqliteDatabase, file: NewFile): FileRecord {
  try {
    const row = db.writeReturning<FileRow>(
      `INSERT INTO files (id, tenant, purpose, filename, display_name, mime_type, bytes, sha256, source, created_at_ms, expires_at_ms)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING ${FILE_COLUMNS}`,
      file.id, file.tenant ?? DEFAULT_TENANT, file.purpose, file.filename, file.displayName, file.mimeType, file.bytes, file.sha256, file.source, file.createdAtMs, file.expiresAtMs,
    );
    return toFileRecord(row as FileRow);
  } catch (error) {
    if (isUniqueViolation(error)) throw fileAlreadyExists(file.id, error);
    throw error;
  }
}

export function getFile(db: SqliteDatabase, id: string): FileRecord | null {
  const row = db.statement(`SELECT ${FILE_COLUMNS} FROM files WHERE id = ?`).get(id) as FileRow | undefined;
  return row ? toFileRecord(row) : null;
}

/**
 * Pages in insertion order (seq). The cursor is a file id; an unknown cursor (the file was deleted
 * between pages) yields an empty page rather than restarting from the top.
 */
export function listFiles(db: SqliteDatabase, query: FileQuery): { files: FileRecord[]; hasMore: boolean } {
  const desc = query.order === "desc";
  const sql = `
    SELECT ${FILE_COLUMNS} FROM files
    WHERE (@purpose IS NULL OR purpose = @purpose)
      AND (@tenant IS NULL OR tenant = @tenant)
      AND (@afterId IS NULL OR seq ${desc ? "<" : ">"} (SELECT seq FROM files WHERE id = @afterId))
    ORDER BY seq ${desc ? "DESC" : "ASC"}
    LIMIT @limit`;
  const rows = db.statement(sql).all({ purpose: query.purpose ?? null, tenant: query.tenant ?? null, afterId: query.afterId ?? null, limit: query.limit + 1 }) as FileRow[];
  return { files: rows.slice(0, query.limit).map(toFileRecord), hasMore: rows.length > query.limit };
}

export function deleteFile(db: SqliteDatabase, id: string): boolean {
  return db.statement("DELETE FROM files WHERE id = ?").run(id).changes > 0;
}

export function deleteExpiredFiles(db: SqliteDatabase, nowMs: number, limit: number): string[] {
  const rows = db
    .statement(
      `DELETE FROM files WHERE id IN (
         SELECT id FROM files WHERE expires_at_ms IS NOT NULL AND expires_at_ms <= ? ORDER BY expires_at_ms LIMIT ?)
       RETURNING id`,
    )
    .all(nowMs, limit) as { id: string }[];
  return rows.map((row) => row.id);
}
