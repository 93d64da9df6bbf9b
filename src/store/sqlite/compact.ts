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
import { accessSync, constants, statfsSync, statSync } from "node:fs";
import path from "node:path";

export interface CompactionReport {
  /** The database file's size before and after (its WAL emptied into it first). */
  bytesBefore: number;
  bytesAfter: number;
  /** Pages no row used before compaction (SQLite's free list), in bytes: the least it gives back. */
  freeBytesBefore: number;
}

/** What VACUUM would need and what the disk has, when that is not enough (bytes). */
export interface SpaceShortage {
  dataDir: string;
  /** SQLite's temporary directory, where VACUUM builds the new file. */
  tempDir: string;
  /** One filesystem holds both: it needs `neededBytes` twice there. */
  sharedFilesystem: boolean;
  /** The pages in use: what VACUUM may write in each of the two places. */
  neededBytes: number;
  freeInDataDir: number;
  freeInTempDir: number;
}

/** Why compaction did not run; the file is unchanged. The CLI words it for the operator. */
export class CompactionRefused extends Error {
  constructor(
    readonly reason: "in_use" | "missing" | "no_space",
    message: string,
    readonly shortage: SpaceShortage | null = null,
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
    // VACUUM builds the new file in SQLite's temporary directory and, in WAL mode, copies it back through
    // the WAL: up to the pages in use in each place. Refused beforehand rather than filling a disk others share.
    const shortage = spaceShortage(path.dirname(filePath), bytesBefore - freeBytesBefore);
    if (shortage !== null) throw new CompactionRefused("no_space", `${filePath} needs more free space to compact`, shortage);
    db.exec("VACUUM");
    // In WAL mode VACUUM writes the new pages into the WAL: the file shrinks when they are copied back.
    db.pragma("wal_checkpoint(TRUNCATE)");
    return { bytesBefore, bytesAfter: statSync(filePath).size, freeBytesBefore };
  } finally {
    db.close();
  }
}

/**
 * Where SQLite puts temporary files on Unix, in its own order (os_unix.c: SQLITE_TMPDIR, TMPDIR, /var/tmp,
 * /usr/tmp, /tmp, then the working directory): the first that is a directory this process may write to.
 */
function sqliteTempDirectory(): string {
  const candidates = [process.env.SQLITE_TMPDIR, process.env.TMPDIR, "/var/tmp", "/usr/tmp", "/tmp"];
  for (const dir of candidates) {
    if (dir === undefined || dir === "") continue;
    try {
      if (!statSync(dir).isDirectory()) continue;
      accessSync(dir, constants.W_OK | constants.X_OK);
      return dir;
    } catch {
      continue;
    }
  }
  return ".";
}

/** Null when the data dir and the temporary directory each have `usedBytes` free (twice, if one filesystem holds both). */
function spaceShortage(dataDir: string, usedBytes: number): SpaceShortage | null {
  const tempDir = sqliteTempDirectory();
  const free = (dir: string): number => {
    const stats = statfsSync(dir);
    return stats.bavail * stats.bsize;
  };
  const sharedFilesystem = statSync(dataDir).dev === statSync(tempDir).dev;
  const freeInDataDir = free(dataDir);
  const freeInTempDir = sharedFilesystem ? freeInDataDir : free(tempDir);
  const enough = sharedFilesystem ? freeInDataDir >= 2 * usedBytes : freeInDataDir >= usedBytes && freeInTempDir >= usedBytes;
  return enough ? null : { dataDir, tempDir, sharedFilesystem, neededBytes: usedBytes, freeInDataDir, freeInTempDir };
}

function isFile(filePath: string): boolean {
  try {
    return statSync(filePath).isFile();
  } catch {
    return false;
  }
}
