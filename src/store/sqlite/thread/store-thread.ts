/**
 * The body of the SQLite Store's thread: opens the database file given in workerData and runs each Store
 * method the caller sends, one message at a time, in the order sent (the thread is the connection's only
 * user, so every transaction keeps the meaning it had on the main thread). Storage failures the Store logs
 * are sent back to the caller's logger.
 */
import { parentPort, workerData } from "node:worker_threads";
import type { StoreLogger } from "../../shared/store-logger.ts";
import type { Store } from "../../store.ts";
import { openSqliteStore } from "../sqlite-store.ts";
import { sendError, sendLogFields, type CallMessage, type ThreadMessage } from "./protocol.ts";
import { WIRE } from "./wire.ts";

const port = parentPort;
if (port === null) throw new Error("store-thread.ts runs only as a worker thread (see threaded-store.ts).");
const post = (message: ThreadMessage): void => port.postMessage(message);

const logAt =
  (level: "error" | "warn" | "info") =>
  (fieldsOrMessage: unknown, message?: string): void => {
    if (typeof fieldsOrMessage === "string") post({ kind: "log", level, fields: {}, message: fieldsOrMessage });
    else post({ kind: "log", level, fields: sendLogFields((fieldsOrMessage ?? {}) as Record<string, unknown>), message });
  };
const logger = { error: logAt("error"), warn: logAt("warn"), info: logAt("info") } as unknown as StoreLogger;

let store: Store;
try {
  store = await openSqliteStore((workerData as { filePath: string }).filePath, { logger });
  post({ kind: "ready" });
} catch (error) {
  post({ kind: "open-failed", error: sendError(error) });
  process.exit(1);
}

port.on("message", (call: CallMessage) => {
  const method = (store as unknown as Record<string, unknown>)[call.method];
  if (typeof method !== "function") {
    post({ kind: "error", id: call.id, error: sendError(new Error(`The SQLite Store has no method ${call.method}.`)) });
    return;
  }
  // The SQLite Store's methods do their work synchronously: the next message runs after this one's transaction.
  // Called inside a promise, so that even a method that throws instead of rejecting is answered, never
  // left to end the thread (and with it every later call).
  const codec = WIRE[call.method];
  new Promise((resolve) => resolve(method.apply(store, codec?.args ? codec.args.receive(call.args) : call.args))).then(
    (value) => post({ kind: "result", id: call.id, value: codec?.value ? codec.value.send(value) : value }),
    (error: unknown) => post({ kind: "error", id: call.id, error: sendError(error) }),
  );
});
