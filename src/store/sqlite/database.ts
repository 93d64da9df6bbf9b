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
 */
import Database from "better-sqlite3";
import { mkdirSync } from "node:fs";
import path from "node:path";

export type Statement = Database.Statement<unknown[], unknown>;

export class SqliteDatabase {
  readonly connection: Database.Database;
  private readonly statements = new Map<string, Statement>();

  constructor(readonly filePath: string) {
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
      this.statements.set(sql, prepared);
    }
    return prepared;
  }

  /** Runs `work` in one IMMEDIATE transaction (write lock taken up front); nested calls become savepoints. */
  immediate<T>(work: () => T): T {
    return this.connection.transaction(work).immediate();
  }

  close(): void {
    this.statements.clear();
    if (this.connection.open) this.connection.close();
  }
}

/** SQLite extended result codes we branch on (never the message text). */
export function isUniqueViolation(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  return code === "SQLITE_CONSTRAINT_PRIMARYKEY" || code === "SQLITE_CONSTRAINT_UNIQUE";
}
