/**
 * One `pg` Pool bound to one schema, with the settings every spool process must share, and transactions
 * that retry on deadlock.
 *
 * The schema is set with the `options` startup parameter (`-c search_path=...`) rather than a `SET` after
 * connecting: it costs no round trip, and a connection can never run a query before its search_path is in
 * place (the pool's "connect" event does not wait for async work). That is what lets each test, and each
 * deployment that wants it, live in its own schema of a shared database.
 *
 * BIGINT (epoch ms, seq, byte counts) and NUMERIC (sum() over BIGINT) come back as strings by default;
 * this pool parses them to numbers, which is exact for every value spool stores (all < 2^53), and refuses
 * any that would lose precision rather than round silently.
 *
 * Every call to `pg` goes through this class, which is what makes three rules hold in one place:
 * - strings are escaped on the way in and unescaped on the way out (text-escaping.ts), so a NUL
 *   round-trips as it does in SQLite instead of failing the statement;
 * - a lost or refused connection becomes AppError("unavailable") and a full disk on the server
 *   AppError("insufficient_storage") (connection-errors.ts), so both dialects answer 503/507 in their
 *   own shape instead of a 500;
 * - the outage is logged once when it starts and once when it ends (reachability.ts).
 */
import pg from "pg";
import { databaseUnavailable, insufficientStorage } from "../shared/store-errors.ts";
import { silentStoreLogger, type StoreLogger } from "../shared/store-logger.ts";
import { describeTarget, isConnectionError, isDiskFull } from "./connection-errors.ts";
import { DatabaseReachability } from "./reachability.ts";
import { escapeValues, unescapeRows } from "./text-escaping.ts";

const SCHEMA_NAME = /^[a-z_][a-z0-9_]{0,62}$/;

/** PostgreSQL SQLSTATE codes we branch on (never the message text). */
export const PG_UNIQUE_VIOLATION = "23505";
const PG_DEADLOCK_DETECTED = "40P01";
const PG_SERIALIZATION_FAILURE = "40001";
const PG_DUPLICATE_SCHEMA = "42P06";

export function pgErrorCode(error: unknown): string | undefined {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === "string" ? code : undefined;
}

export function isUniqueViolation(error: unknown): boolean {
  return pgErrorCode(error) === PG_UNIQUE_VIOLATION;
}

function parseSafeInteger(text: string): number {
  const value = Number(text);
  if (!Number.isSafeInteger(value)) throw new RangeError(`PostgreSQL returned ${text}, which is not a safe integer.`);
  return value;
}

const typeParsers: pg.CustomTypesConfig = {
  getTypeParser: ((oid: number, format?: "text" | "binary") => {
    if (format !== "binary" && (oid === pg.types.builtins.INT8 || oid === pg.types.builtins.NUMERIC)) return parseSafeInteger;
    return pg.types.getTypeParser(oid, format);
  }) as pg.CustomTypesConfig["getTypeParser"],
};

/** What the *-sql.ts modules query through: the database itself, or one transaction's connection. */
export interface Queryable {
  query<R extends pg.QueryResultRow = pg.QueryResultRow>(text: string, values?: readonly unknown[]): Promise<pg.QueryResult<R>>;
}

export interface PostgresDatabaseOptions {
  schema?: string;
  poolSize?: number;
  /** Gives up connecting after this long (a server that drops packets would otherwise hang a request). */
  connectTimeoutMs?: number;
  logger?: StoreLogger;
  /** Shared by the pools of one process so an outage is logged once; made from `logger` when absent. */
  reachability?: DatabaseReachability;
  /**
   * Where the listening connection goes (`databaseListenUrl`), when not to `url`: PgBouncer in transaction
   * mode hands a session's LISTEN to whichever client next uses that server connection, so it must bypass it.
   */
  listenUrl?: string;
}

export class PostgresDatabase {
  readonly pool: pg.Pool;
  readonly schema: string;
  private readonly target: string;
  private readonly reachability: DatabaseReachability;
  readonly logger: StoreLogger;
  private readonly clientConfig: pg.ClientConfig;
  private readonly listenUrl: string;
  /** Where the listening connection goes (host:port/database), for logs. */
  readonly listenTarget: string;

  constructor(url: string, options: PostgresDatabaseOptions = {}) {
    this.target = describeTarget(url);
    this.logger = options.logger ?? silentStoreLogger;
    this.reachability = options.reachability ?? new DatabaseReachability(this.target, this.logger);
    this.schema = options.schema ?? "public";
    if (!SCHEMA_NAME.test(this.schema)) {
      throw new Error(`Invalid PostgreSQL schema name "${this.schema}": use lower-case letters, digits and underscores.`);
    }
    this.clientConfig = {
      connectionString: url,
      connectionTimeoutMillis: options.connectTimeoutMs ?? 10_000,
      keepAlive: true,
      options: `-c search_path=${this.schema}`,
      types: typeParsers,
      application_name: "spool",
    };
    this.listenUrl = options.listenUrl ?? url;
    this.listenTarget = describeTarget(this.listenUrl);
    this.pool = new pg.Pool({ ...this.clientConfig, max: options.poolSize ?? 10 });
    // An idle client that loses its connection (server restart) emits "error" on the pool; without a
    // listener that would crash the process. The next query gets a fresh connection.
    this.pool.on("error", () => undefined);
  }

  /**
   * A connection of its own, outside the pool, with the pool's settings (to `listenUrl` when one is given):
   * for a session that must outlive one query (LISTEN, work-events-pg.ts), whose queries fail after
   * `queryTimeoutMs` (its ping). Unconnected; the caller connects, watches and ends it.
   */
  listenerClient(queryTimeoutMs: number): pg.Client {
    return new pg.Client({ ...this.clientConfig, connectionString: this.listenUrl, application_name: "spool-listener", query_timeout: queryTimeoutMs });
  }

  /** Creates the schema if missing. Two processes racing on CREATE SCHEMA IF NOT EXISTS can still collide. */
  async ensureSchema(): Promise<void> {
    try {
      await this.call(() => this.pool.query(`CREATE SCHEMA IF NOT EXISTS ${pg.escapeIdentifier(this.schema)}`));
    } catch (error) {
      const code = pgErrorCode(error);
      if (code !== PG_DUPLICATE_SCHEMA && code !== PG_UNIQUE_VIOLATION) throw error;
    }
  }

  query<R extends pg.QueryResultRow = pg.QueryResultRow>(text: string, values?: readonly unknown[]): Promise<pg.QueryResult<R>> {
    return withDeadlockRetry(() => this.call(async () => unescaped(await this.pool.query<R>(text, escapeValues(values)))));
  }

  /**
   * `query` as a named prepared statement: each connection parses it once, and after its first five runs
   * PostgreSQL may keep one generic plan instead of planning every call. Only for the hot statements whose
   * best plan does not depend on the values (the claim, the completion, the heartbeat): planning was
   * 1.6–1.7 ms of each ~4 ms claim and completion (decision 0037). Anything whose plan should follow its
   * values stays unnamed. One `name` per statement text, for the life of the process.
   */
  prepared<R extends pg.QueryResultRow = pg.QueryResultRow>(name: string, text: string, values: readonly unknown[]): Promise<pg.QueryResult<R>> {
    return withDeadlockRetry(() => this.call(async () => unescaped(await this.pool.query<R>({ name, text, values: escapeValues(values) }))));
  }

  /**
   * pg_notify on a pool connection, given up after `timeoutMs`: a wake-up is worth a poll interval at most,
   * and one stuck on a connection gone silent must not hold anything (close() waits for checked-out
   * connections). On the timeout pg fails the query and the pool drops that connection.
   */
  async notify(channel: string, payload: string, timeoutMs: number): Promise<void> {
    // query_timeout per query is read by pg's Client.query, though @types/pg lists it only for connections.
    const query: pg.QueryConfig = Object.assign({ text: "SELECT pg_notify($1, $2)", values: [channel, payload] }, { query_timeout: timeoutMs });
    await this.call(() => this.pool.query(query));
  }

  /**
   * Runs `work` in one READ COMMITTED transaction on one connection. Every state change here is guarded by
   * the state it expects (WHERE status = ...), so READ COMMITTED is enough; stronger isolation would only
   * add serialization failures. Deadlocks (two transactions touching the same Batch rows in opposite
   * orders, e.g. completions of Items from several Batches) are rolled back by the server and retried here:
   * the whole transaction is redone, so `work` must not have effects outside the database.
   */
  transaction<T>(work: (client: Queryable) => Promise<T>): Promise<T> {
    return withDeadlockRetry(async () => {
      // Not proof that the database answers: the pool hands out an idle client without a round trip, and
      // during an outage that client's connection may already be gone. Its first query tells.
      const client = await this.call(() => this.pool.connect(), { proves: false });
      // A checked-out client whose connection drops emits "error" besides failing its query; pg-pool only
      // listens while the client is idle, and an unheard "error" event would kill the process.
      const onConnectionError = (error: unknown): void => this.reachability.lost(error);
      client.on("error", onConnectionError);
      const connection: Queryable = {
        query: (text, values) => this.call(async () => unescaped(await client.query(text, escapeValues(values)))),
      };
      let broken = false;
      try {
        await connection.query("BEGIN");
        const result = await work(connection);
        await connection.query("COMMIT");
        return result;
      } catch (error) {
        try {
          await client.query("ROLLBACK");
        } catch {
          broken = true;
        }
        throw error;
      } finally {
        client.off("error", onConnectionError);
        client.release(broken);
      }
    });
  }

  /**
   * One call to pg: a connection failure becomes AppError("unavailable") and a full server disk
   * AppError("insufficient_storage"), each logged once; other errors (SQLSTATEs the callers branch on,
   * deadlocks to retry) pass through unchanged.
   */
  private async call<T>(run: () => Promise<T>, { proves = true }: { proves?: boolean } = {}): Promise<T> {
    const epoch = this.reachability.epoch;
    let result: T;
    try {
      result = await run();
    } catch (error) {
      if (isConnectionError(error)) {
        this.reachability.lost(error);
        throw databaseUnavailable(error);
      }
      if (isDiskFull(error)) {
        this.logger.error({ database: this.target, schema: this.schema, code: pgErrorCode(error) }, "the disk of the PostgreSQL server is full: the change was rolled back and not saved");
        throw insufficientStorage(error);
      }
      throw error;
    }
    if (proves) this.reachability.answered(epoch);
    return result;
  }

  async close(): Promise<void> {
    await this.pool.end();
  }
}

/** A multi-statement text (a migration) resolves to one result per statement. */
function unescaped<R extends pg.QueryResultRow>(result: pg.QueryResult<R>): pg.QueryResult<R> {
  for (const each of Array.isArray(result) ? (result as pg.QueryResult<R>[]) : [result]) {
    if (Array.isArray(each.rows)) unescapeRows(each.rows);
  }
  return result;
}

async function withDeadlockRetry<T>(run: () => Promise<T>, attempts = 5): Promise<T> {
  for (let attempt = 1; ; attempt += 1) {
    try {
      return await run();
    } catch (error) {
      const code = pgErrorCode(error);
      if (attempt >= attempts || (code !== PG_DEADLOCK_DETECTED && code !== PG_SERIALIZATION_FAILURE)) throw error;
      await new Promise((resolve) => setTimeout(resolve, Math.random() * 20 * attempt));
    }
  }
}
