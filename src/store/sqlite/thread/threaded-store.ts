/**
 * The SQLite Store run on a thread of its own (decision 0029). better-sqlite3 is synchronous: on the main
 * thread every claim, completion write and Item insert holds the event loop for its whole transaction, so
 * HTTP to the engines, the API and the sync passthrough all wait behind the database. On its own thread the
 * database work of a busy Batch overlaps with the dispatch work, and an API request waits at most for one
 * transaction in the thread's queue instead of for everything the event loop has queued.
 *
 * The caller's side has one method per Store method, each of which becomes a message (method name and
 * arguments, copied by structured clone) and a promise for the thread's answer. Messages are answered in the order sent,
 * one at a time, so the Store keeps its contract unchanged (it was already asynchronous for PostgreSQL).
 * Arguments must be plain data. The one method that takes a function, beatCapacity (its `decide` runs
 * inside the transaction), cannot cross and is refused with a clear error: the capacity ledger serves
 * processes sharing PostgreSQL, and a SQLite deployment never beats (src/app.ts).
 *
 * Single-row reads (a Batch or File by id) are answered on the calling thread by a read-only connection
 * when the Store's thread has no call in hand (localRead below), as a second process's reader would be.
 *
 * If the thread dies, the calls waiting on it fail with "unavailable" (which the Worker and the API already
 * treat as a database outage) and the next call starts a new thread (see openThreadedSqliteStore).
 */
import { Worker } from "node:worker_threads";
import { AppError } from "../../../core/errors.ts";
import { databaseUnavailable } from "../../shared/store-errors.ts";
import type { StoreLogger } from "../../shared/store-logger.ts";
import type { Store } from "../../store.ts";
import { SqliteDatabase } from "../database.ts";
import { SqliteStore } from "../sqlite-store.ts";
import { receiveError, type CallMessage, type ThreadMessage } from "./protocol.ts";
import { WIRE } from "./wire.ts";

const THREAD_YOUNG_GENERATION_MB = 4;
/** Store methods this thread may answer itself (see localRead): single-row lookups by primary key. */
const LOCAL_READS: ReadonlySet<string> = new Set(["getBatch", "getFile"]);
/** After a replacement thread failed to open the database, calls fail at once for this long before the next try. */
const REOPEN_BACKOFF_MS = 1_000;

interface Waiting {
  resolve: (value: unknown) => void;
  reject: (error: Error) => void;
}

const closedError = (): AppError => new AppError("unavailable", "The database is closed.");

/** One thread and the calls waiting on it. */
class StoreThread {
  readonly worker: Worker;
  /** Resolves once the thread has opened the database; rejects with the reason it could not. */
  readonly opened: Promise<void>;
  /** Why the thread is gone (null while it runs): every later call must go to a new one. */
  dead: Error | null = null;
  /** It opened the database (a thread that never did failed to start; it did not die). */
  ready = false;
  private readonly waiting = new Map<number, Waiting>();
  private nextId = 0;

  /** No call is waiting for an answer: every write sent so far is committed (or failed). */
  get idle(): boolean {
    return this.waiting.size === 0;
  }

  constructor(filePath: string, logger: StoreLogger | undefined, onDeath: (thread: StoreThread, error: Error) => void) {
    // The thread's objects live for one message: a 4 MB new space (V8's default is up to 32 MB) kept a 1M-Item
    // Batch's peak RSS 25-30 MB lower at no measurable CPU cost (decision 0029).
    // `bundle`: this process runs from bin/typescript-bundle.js's bundle, which holds the thread's code too.
    const bundle = (globalThis as Record<symbol, unknown>)[Symbol.for("spool.typescriptBundle")] ?? null;
    this.worker = new Worker(new URL("./entry.js", import.meta.url), { workerData: { filePath, bundle }, resourceLimits: { maxYoungGenerationSizeMb: THREAD_YOUNG_GENERATION_MB } });
    this.opened = new Promise<void>((resolve, reject) => {
      this.worker.on("message", (message: ThreadMessage) => {
        if (message.kind === "ready") {
          this.ready = true;
          resolve();
        }
        else if (message.kind === "open-failed") reject(receiveError(message.error));
        else if (message.kind === "log") logger?.[message.level](message.fields, message.message);
        else this.answer(message);
      });
      const died = (error: Error): void => {
        reject(error);
        if (this.dead !== null) return;
        this.dead = error;
        for (const call of this.waiting.values()) call.reject(databaseUnavailable(error));
        this.waiting.clear();
        onDeath(this, error);
      };
      this.worker.on("error", died);
      this.worker.on("exit", (code) => died(new Error(`The SQLite store's thread exited (code ${code}).`)));
    });
    // Only a pending call keeps the process alive: an idle Store must not hold a finished CLI open.
    void this.opened.then(() => this.worker.unref(), () => undefined);
  }

  call(method: string, args: unknown[]): Promise<unknown> {
    const id = this.nextId++;
    const codec = WIRE[method];
    return new Promise((resolve, reject) => {
      try {
        const message: CallMessage = { id, method, args: codec?.args ? codec.args.send(args) : args };
        this.worker.postMessage(message);
      } catch (error) {
        // Structured clone refused an argument (nothing was sent): say which method, and why when it is a function.
        const what = args.some(holdsFunction) ? "takes a function, which" : `has an argument that (${(error as Error).message})`;
        reject(new Error(`${method} ${what} cannot be sent to the SQLite store's thread: open the store with openSqliteStore to use it.`));
        return;
      }
      // The hot path's values arrive as arrays (wire.ts) and become the Store's objects here.
      const receive = codec?.value?.receive;
      this.waiting.set(id, { resolve: receive ? (value) => resolve(receive(value)) : resolve, reject });
      if (this.waiting.size === 1) this.worker.ref();
    });
  }

  private answer(message: Extract<ThreadMessage, { kind: "result" | "error" }>): void {
    const call = this.waiting.get(message.id);
    if (call === undefined) return;
    this.waiting.delete(message.id);
    if (this.waiting.size === 0) this.worker.unref();
    if (message.kind === "result") call.resolve(message.value);
    else call.reject(receiveError(message.error));
  }
}

/**
 * A thread that dies (it should not: every error inside is answered, not thrown; but a message too large
 * for its heap ends it) is replaced on the next call: the calls it held fail with "unavailable" — whether
 * their writes were committed is unknown, as with a dropped database connection — and the next calls go to
 * a new thread on the same file, so one bad moment does not leave the process without its database.
 */
export async function openThreadedSqliteStore(filePath: string, options: { logger?: StoreLogger } = {}): Promise<Store> {
  const { logger } = options;
  let closed = false;
  let replacing: Promise<StoreThread> | null = null;
  let retryAtMs = 0;
  let migrated = false;
  const onDeath = (thread: StoreThread, error: Error): void => {
    if (!closed && thread.ready && thread === current) logger?.error({ err: error }, "the SQLite store's thread stopped; the next call starts a new one");
  };
  let current = new StoreThread(filePath, logger, onDeath);
  await current.opened;

  const replacement = (): Promise<StoreThread> => {
    if (Date.now() < retryAtMs) return Promise.reject(databaseUnavailable(current.dead));
    replacing ??= (async () => {
      const thread = new StoreThread(filePath, logger, onDeath);
      try {
        await thread.opened;
        // As a restarted process would: a schema the first thread brought up to date stays so.
        if (migrated) await thread.call("migrate", []);
      } catch (error) {
        retryAtMs = Date.now() + REOPEN_BACKOFF_MS;
        logger?.error({ err: error }, "a new SQLite store thread could not open the database");
        throw databaseUnavailable(error);
      } finally {
        replacing = null;
      }
      current = thread;
      logger?.info({ db: filePath }, "a new SQLite store thread opened the database");
      return thread;
    })();
    return replacing;
  };

  // Point reads answered on this thread, by a read-only connection of its own, while the Store's thread has
  // nothing in hand: a message each way costs far more than the read (a Batch retrieve: ~250 µs of CPU over
  // both threads for a 20 µs lookup). Only when idle, so a read never overtakes a write sent before it; on
  // any failure (the reader cannot open, a busy file) the thread answers as before.
  let reader: SqliteStore | null = null;
  let readerFailed = false;
  const localRead = (method: string, args: unknown[]): Promise<unknown> | null => {
    if (readerFailed || !LOCAL_READS.has(method) || current.dead !== null || !current.idle) return null;
    try {
      reader ??= new SqliteStore(new SqliteDatabase(filePath, { readonly: true, logger }));
    } catch (error) {
      readerFailed = true;
      logger?.warn({ err: error, db: filePath }, "the SQLite store's reader could not open the database; reads go to its thread");
      return null;
    }
    const read = (reader as unknown as Record<string, (...values: unknown[]) => Promise<unknown>>)[method]!;
    return read.apply(reader, args).catch(() => current.call(method, args));
  };

  const call = (method: string, args: unknown[]): Promise<unknown> => {
    if (closed) return Promise.reject(closedError());
    const local = localRead(method, args);
    if (local !== null) return local;
    const answer = current.dead === null ? current.call(method, args) : replacement().then((thread) => thread.call(method, args));
    if (method === "migrate") void answer.then(() => (migrated = true), () => undefined);
    return answer;
  };

  const close = async (): Promise<void> => {
    if (closed) return;
    if (current.dead === null) await current.call("close", []);
    closed = true;
    await reader?.close();
    await current.worker.terminate();
  };
  // One forwarding method per Store method, on a plain object (spies and wrappers see ordinary methods).
  const methods = Object.getOwnPropertyNames(SqliteStore.prototype).filter((name) => name !== "constructor");
  const store = Object.fromEntries(methods.map((name) => [name, (...args: unknown[]) => call(name, args)])) as unknown as Store;
  store.close = close;
  threads.set(store, () => current.worker);
  return store;
}

/** Each threaded Store's current thread, for tests that must see what happens when the thread dies. */
const threads = new WeakMap<Store, () => Worker>();

export function threadOf(store: Store): Worker | undefined {
  return threads.get(store)?.();
}

/** A function at the top level or one level down (a beat's `decide`): asked only once structured clone refused. */
function holdsFunction(arg: unknown): boolean {
  if (typeof arg === "function") return true;
  return typeof arg === "object" && arg !== null && Object.values(arg).some((value) => typeof value === "function");
}
