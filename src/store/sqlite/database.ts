/**
 * One better-sqlite3 connection with the settings every spool process must share, a cache of prepared
 * statements, and IMMEDIATE transactions.
 *
 * Several processes (an API process and `spool worker` processes) may open the same file. WAL lets readers
 * run beside the one writer; `busy_timeout` makes a writer wait for the lock instead of failing at once.
 * Multi-statement changes run in IMMEDIATE transactions: a DEFERRED one that reads first and writes later
 * can fail with SQLITE_BUSY_SNAPSHOT when another process wrote in between, and busy_timeout does not
 * retry that case. Single UPDATE/INSERT statements take the write lock before they read, so they are safe
 * on their own.
 *
 * A full disk (issue 9): in WAL mode the pages of a change are written to the WAL at commit, so ENOSPC
 * surfaces as SQLITE_FULL from the commit, not from the INSERT/UPDATE itself. An autocommit statement
 * commits when it is stepped to its end; better-sqlite3's `.get()` steps once, returns the first row and
 * then resets the statement, dropping the commit's error: an `INSERT ... RETURNING` read with `.get()`
 * hands back a row that was rolled back. Writes therefore read RETURNING rows with `.all()` (which steps
 * to the end, so a failed commit throws) or inside `immediate()` (whose COMMIT throws); `statement()`
 * refuses `.get()` on a writing statement outside a transaction, so the trap cannot come back unnoticed.
 */
import Database from "better-sqlite3";
import { mkdirSync } from "node:fs";
import path from "node:path";
import { insufficientStorage } from "../shared/store-errors.ts";
import { silentStoreLogger, type StoreLogger } from "../shared/store-logger.ts";

export type Statement = Database.Statement<unknown[], unknown>;

export class SqliteDatabase {
  readonly connection: Database.Database;
  private readonly statements = new Map<string, Statement>();
  private readonly rawStatements = new Map<string, Statement>();
  private readonly logger: StoreLogger;

  constructor(
    readonly filePath: string,
    options: { logger?: StoreLogger; readonly?: boolean } = {},
  ) {
    this.logger = options.logger ?? silentStoreLogger;
    if (options.readonly === true) {
      // A reader beside the writing connection (threaded-store.ts): the file exists and is in WAL mode already.
      this.connection = new Database(filePath, { readonly: true, fileMustExist: true });
      this.connection.pragma("busy_timeout = 5000");
      return;
    }
    if (filePath !== ":memory:") mkdirSync(path.dirname(filePath), { recursive: true });
    this.connection = new Database(filePath);
    this.connection.pragma("journal_mode = WAL");
    this.connection.pragma("synchronous = NORMAL");
    this.connection.pragma("busy_timeout = 5000");
    this.connection.pragma("foreign_keys = ON");
  }

  /** The prepared statement for `sql`, prepared once per connection (statements are keyed by their text). */
  statement(sql: string): Statement {
    let prepared = this.statements.get(sql);
    if (!prepared) {
      prepared = this.connection.prepare(sql);
      if (prepared.reader && !prepared.readonly) this.guardFirstRowRead(prepared);
      this.statements.set(sql, prepared);
    }
    return prepared;
  }

  /**
   * The prepared statement for `sql` in raw mode (rows as arrays, raw-rows.ts), kept apart from `statement`'s
   * so that one text is never read both ways.
   */
  rawStatement(sql: string): Statement {
    let prepared = this.rawStatements.get(sql);
    if (!prepared) {
      prepared = this.connection.prepare(sql).raw(true);
      if (prepared.reader && !prepared.readonly) this.guardFirstRowRead(prepared);
      this.rawStatements.set(sql, prepared);
    }
    return prepared;
  }

  /** The first row a writing statement RETURNs, read so that a failed commit throws (see the top of this file). */
  writeReturning<R>(sql: string, ...params: unknown[]): R | undefined {
    return this.statement(sql).all(...params)[0] as R | undefined;
  }

  /** Runs `work` in one IMMEDIATE transaction (write lock taken up front); nested calls become savepoints. */
  immediate<T>(work: () => T): T {
    return this.connection.transaction(work).immediate();
  }

  /**
   * Runs one Store operation: a full disk becomes AppError("insufficient_storage"), logged once here with
   * the database file; every other error passes through unchanged.
   */
  guard<T>(work: () => T): T {
    try {
      return work();
    } catch (error) {
      if (!isDiskFull(error)) throw error;
      this.logger.error({ db: this.filePath, code: "SQLITE_FULL" }, "the disk holding the SQLite database is full: the operation failed and nothing of it was saved");
      throw insufficientStorage(error);
    }
  }

  private guardFirstRowRead(prepared: Statement): void {
    const get = prepared.get.bind(prepared);
    Object.assign(prepared, {
      get: (...params: unknown[]): unknown => {
        if (!this.connection.inTransaction) {
          throw new Error("A writing statement's RETURNING row was read with .get() outside a transaction: a failed commit would go unnoticed. Use writeReturning().");
        }
        return get(...params);
      },
    });
  }

  close(): void {
    this.statements.clear();
    this.rawStatements.clear();
    if (this.connection.open) this.connection.close();
  }
}

/** SQLite extended result codes we branch on (never the message text). */
export function isUniqueViolation(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  return code === "SQLITE_CONSTRAINT_PRIMARYKEY" || code === "SQLITE_CONSTRAINT_UNIQUE";
}

/** SQLITE_FULL: the filesystem is out of space (ENOSPC on the WAL or database file) or max_page_count was reached. */
function isDiskFull(error: unknown): boolean {
  return (error as { code?: unknown } | null)?.code === "SQLITE_FULL";
}
