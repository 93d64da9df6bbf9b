/**
 * Gives the disk space of deleted rows back to the operating system (`spool compact`).
 *
 * SQLite keeps the pages of deleted rows (Items purged by retention, deleted Batches and Files) in the
 * file and reuses them for new rows, so the file stays as large as it ever was; VACUUM rewrites it. That
 * needs the database to itself: a spool process writing beside it would wait on VACUUM's lock for its
 * busy timeout and then fail. So compaction first takes SQLite's exclusive lock in `locking_mode =
 * EXCLUSIVE`, which every other open connection prevents (a WAL-mode connection holds a shared lock on
 * the file for as long as it is open, idle or not), and keeps it until it closes: a process that starts
 * meanwhile waits, then fails to open, and never sees a half-done file. VACUUM is a transaction: stopped
 * or out of disk, the file is as it was.
 *
 * Not a rename of a `VACUUM INTO` copy: a process that opened the old file just before the rename (its
 * first statement waiting on the lock) would write into the unlinked old file after the lock is let go.
 */
import Database from "better-sqlite3";
import { statSync } from "node:fs";

export interface CompactionReport {
  /** The database file's size before and after (its WAL emptied into it first). */
  bytesBefore: number;
  bytesAfter: number;
  /** Pages no row used before compaction (SQLite's free list), in bytes: the least it gives back. */
  freeBytesBefore: number;
}

/** Why compaction did not run; the file is unchanged. */
export class CompactionRefused extends Error {
  constructor(
    readonly reason: "in_use" | "missing",
    message: string,
  ) {
    super(message);
  }
}

/** How long to wait for another connection's lock before deciding that the file is in use. */
const LOCK_WAIT_MS = 1_000;

export function compactSqliteFile(filePath: string): CompactionReport {
  if (!isFile(filePath)) throw new CompactionRefused("missing", `${filePath} does not exist`);
  const db = new Database(filePath, { fileMustExist: true, timeout: LOCK_WAIT_MS });
  try {
    db.pragma("locking_mode = EXCLUSIVE");
    try {
      // In WAL mode EXCLUSIVE behaves as IMMEDIATE unless the connection's locking mode is exclusive: then
      // it needs every other connection gone.
      db.exec("BEGIN EXCLUSIVE");
      db.exec("COMMIT");
    } catch (error) {
      if ((error as { code?: unknown }).code === "SQLITE_BUSY") {
        throw new CompactionRefused("in_use", `${filePath} is open in another process`);
      }
      throw error;
    }
    // The WAL (a killed process may have left one) goes into the file first, so both sizes are the file's.
    db.pragma("wal_checkpoint(TRUNCATE)");
    const pageSize = db.pragma("page_size", { simple: true }) as number;
    const freeBytesBefore = (db.pragma("freelist_count", { simple: true }) as number) * pageSize;
    const bytesBefore = statSync(filePath).size;
    db.exec("VACUUM");
    // In WAL mode VACUUM writes the new pages into the WAL: the file shrinks when they are copied back.
    db.pragma("wal_checkpoint(TRUNCATE)");
    return { bytesBefore, bytesAfter: statSync(filePath).size, freeBytesBefore };
  } finally {
    db.close();
  }
}

function isFile(filePath: string): boolean {
  try {
    return statSync(filePath).isFile();
  } catch {
    return false;
  }
}
