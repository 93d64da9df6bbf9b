/**
 * The SQLite Store run on a thread of its own (decision 0029). better-sqlite3 is synchronous: on the main
 * thread every claim, completion write and Item insert holds the event loop for its whole transaction, so
 * HTTP to the engines, the API and the sync passthrough all wait behind the database. On its own thread the
 * database work of a busy Batch overlaps with the dispatch work, and an API request waits at most for one
 * transaction in the thread's queue instead of for everything the event loop has queued.
 *
 * The caller's side has one method per Store method, each of which becomes a message (method name and arguments, copied
 * by structured clone) and a promise for the thread's answer. Messages are answered in the order sent,
 * one at a time, so the Store keeps its contract unchanged (it was already asynchronous for PostgreSQL).
 * Arguments must be plain data. The one method that takes a function, beatCapacity (its `decide` runs
 * inside the transaction), cannot cross and is refused with a clear error: the capacity ledger serves
 * processes sharing PostgreSQL, and a SQLite deployment never beats (src/app.ts).
 *
 * If the thread dies (it should not: every error inside is answered, not thrown), every waiting and later
 * call fails with "unavailable", which the Worker and API already treat as a database outage.
 */
import { Worker } from "node:worker_threads";
import { AppError } from "../../../core/errors.ts";
import type { StoreLogger } from "../../shared/store-logger.ts";
import type { Store } from "../../store.ts";
import { SqliteStore } from "../sqlite-store.ts";
import { receiveError, type CallMessage, type ThreadMessage } from "./protocol.ts";

const THREAD_YOUNG_GENERATION_MB = 4;

interface Waiting {
  resolve: (value: unknown) => void;
  reject: (error: Error) => void;
}

export async function openThreadedSqliteStore(filePath: string, options: { logger?: StoreLogger } = {}): Promise<Store> {
  // The thread's objects live for one message: a 4 MB new space (V8's default is up to 32 MB) kept a 1M-Item
  // Batch's peak RSS 25-30 MB lower at no measurable CPU cost (decision 0029).
  const worker = new Worker(new URL("./entry.js", import.meta.url), { workerData: { filePath }, resourceLimits: { maxYoungGenerationSizeMb: THREAD_YOUNG_GENERATION_MB } });
  const waiting = new Map<number, Waiting>();
  let nextId = 0;
  let stopped: Error | null = null;

  const fail = (error: Error): void => {
    stopped ??= error;
    for (const call of waiting.values()) call.reject(stopped);
    waiting.clear();
  };
  const opened = new Promise<void>((resolve, reject) => {
    worker.on("message", (message: ThreadMessage) => {
      switch (message.kind) {
        case "ready":
          resolve();
          return;
        case "open-failed":
          reject(receiveError(message.error));
          return;
        case "log":
          options.logger?.[message.level](message.fields, message.message);
          return;
        default:
          answer(message);
      }
    });
    worker.on("error", (error) => {
      reject(error);
      options.logger?.error({ err: error }, "the SQLite store's thread failed");
      fail(new AppError("unavailable", "The database is unreachable at the moment. Try again shortly.", { cause: error }));
    });
    worker.on("exit", (code) => {
      reject(new Error(`The SQLite store's thread exited (code ${code}) before opening the database.`));
      fail(new AppError("unavailable", "The database is closed.", {}));
    });
  });

  const answer = (message: Extract<ThreadMessage, { kind: "result" | "error" }>): void => {
    const call = waiting.get(message.id);
    if (call === undefined) return;
    waiting.delete(message.id);
    // Only a pending call keeps the process alive: an idle Store must not hold a finished CLI open.
    if (waiting.size === 0) worker.unref();
    if (message.kind === "result") call.resolve(message.value);
    else call.reject(receiveError(message.error));
  };

  const call = (method: string, args: unknown[]): Promise<unknown> => {
    if (stopped !== null) return Promise.reject(stopped);
    if (args.some(holdsFunction)) return Promise.reject(new Error(`${method} takes a function, which cannot be sent to the SQLite store's thread: open the store with openSqliteStore to use it.`));
    const id = nextId++;
    const message: CallMessage = { id, method, args };
    return new Promise((resolve, reject) => {
      waiting.set(id, { resolve, reject });
      if (waiting.size === 1) worker.ref();
      worker.postMessage(message);
    });
  };

  await opened;
  worker.unref();
  const close = async (): Promise<void> => {
    if (stopped !== null) return;
    await call("close", []);
    fail(new AppError("unavailable", "The database is closed.", {}));
    await worker.terminate();
  };
  // One forwarding method per Store method, on a plain object (spies and wrappers see ordinary methods).
  const methods = Object.getOwnPropertyNames(SqliteStore.prototype).filter((name) => name !== "constructor");
  const store = Object.fromEntries(methods.map((name) => [name, (...args: unknown[]) => call(name, args)])) as unknown as Store;
  store.close = close;
  threads.set(store, worker);
  return store;
}

/** Each threaded Store's thread, for tests that must see what happens when the thread dies. */
const threads = new WeakMap<Store, Worker>();

export function threadOf(store: Store): Worker | undefined {
  return threads.get(store);
}

/** A function at the top level or one level down (a beat's `decide`): what structured clone refuses. */
function holdsFunction(arg: unknown): boolean {
  if (typeof arg === "function") return true;
  return typeof arg === "object" && arg !== null && Object.values(arg).some((value) => typeof value === "function");
}
