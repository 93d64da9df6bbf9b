/**
 * `spool compact`: gives the disk space of deleted rows (Items purged by retention, deleted Batches and
 * Files) back to the operating system, on the embedded SQLite store of a data dir. SQLite reuses that space
 * for new rows by itself; compacting is for a store that once held much more than it does now. It needs the
 * store to itself: with spool serve, worker or run still using the data dir it refuses and changes nothing
 * (store/sqlite/compact.ts).
 */
import { loadConfig } from "../config/load-config.ts";
import { CompactionRefused, compactSqliteFile, type SpaceShortage } from "../store/sqlite/compact.ts";
import { sqliteFileOf } from "../store/open-stores.ts";
import { describeFileSystemError, errorCode, ExitCode, OperatorError } from "./operator-error.ts";
import type { ServerFlags } from "./serve.ts";

export async function compactCommand(flags: ServerFlags): Promise<void> {
  const config = loadConfig(flags);
  if (config.databaseUrl) {
    throw new OperatorError(
      "spool compact works on the embedded SQLite store of a data dir, and a database URL is set. On PostgreSQL, " +
        "autovacuum already reuses the space of deleted rows; VACUUM FULL gives it back to the system (it locks each table while it runs).",
      ExitCode.usage,
    );
  }
  const file = sqliteFileOf(config.dataDir);
  console.error(`Compacting ${file} ...`);
  const report = (() => {
    try {
      return compactSqliteFile(file);
    } catch (error) {
      throw describeFailure(error, config.dataDir, file);
    }
  })();
  const given = report.bytesBefore - report.bytesAfter;
  console.log(`Compacted ${file}: ${megabytes(report.bytesBefore)} -> ${megabytes(report.bytesAfter)} (${megabytes(Math.max(0, given))} given back; ${megabytes(report.freeBytesBefore)} were free pages).`);
}

function describeFailure(error: unknown, dataDir: string, file: string): OperatorError | unknown {
  if (error instanceof CompactionRefused) {
    if (error.reason === "missing") return new OperatorError(`No store to compact: ${file} does not exist (data dir ${dataDir}; choose it with --data-dir or SPOOL_DATA_DIR).`, ExitCode.usage);
    if (error.reason === "no_space" && error.shortage !== null) {
      return new OperatorError(`Not enough disk space to compact ${file}: ${describeShortage(error.shortage)} (SQLITE_TMPDIR chooses another temporary directory). Nothing was changed.`, ExitCode.environment);
    }
    return new OperatorError(`${file} is in use by another process (spool serve, worker or run on data dir ${dataDir}): stop it, then run spool compact again. Nothing was changed.`, ExitCode.environment);
  }
  const code = errorCode(error) ?? "";
  if (code.startsWith("SQLITE_FULL") || code === "ENOSPC") {
    return new OperatorError(
      `Not enough disk space to compact ${file} (${code}): compacting writes a copy of what the store holds into the data dir and into SQLite's temporary directory ` +
        "(SQLITE_TMPDIR, TMPDIR or /var/tmp). Free some space and run it again; nothing was changed.",
      ExitCode.environment,
      { cause: error },
    );
  }
  if (code.startsWith("SQLITE_NOTADB") || code.startsWith("SQLITE_CORRUPT")) {
    return new OperatorError(`${file} is not a usable SQLite database (${code}); nothing was changed.`, ExitCode.environment, { cause: error });
  }
  if (code.startsWith("E")) return new OperatorError(`Cannot compact ${file}: ${describeFileSystemError(error)}.`, ExitCode.environment, { cause: error });
  return error;
}

function describeShortage(shortage: SpaceShortage): string {
  const { dataDir, tempDir, neededBytes } = shortage;
  if (shortage.sharedFilesystem) {
    return `it needs about ${megabytes(2 * neededBytes)} free on the filesystem of ${dataDir}, which also holds SQLite's temporary directory ${tempDir}, and ${megabytes(shortage.freeInDataDir)} are`;
  }
  return `it needs about ${megabytes(neededBytes)} free in ${dataDir} (${megabytes(shortage.freeInDataDir)} are) and as much in SQLite's temporary directory ${tempDir} (${megabytes(shortage.freeInTempDir)} are)`;
}

function megabytes(bytes: number): string {
  return `${(bytes / 1024 / 1024).toLocaleString("en-US", { minimumFractionDigits: 1, maximumFractionDigits: 1 })} MB`;
}
