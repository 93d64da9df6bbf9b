/**
 * The SQLite Store on a thread of its own (decision 0029), where `serve` runs it. The Store contract itself
 * is checked by the whole conformance suite through the thread (the `sqlite-thread` backend in
 * store-backends.ts); these tests cover what the thread adds: errors that cross it keep their kind, a
 * method that cannot cross is refused, a closed or dead thread answers "unavailable", an idle thread
 * never keeps a finished process alive, and point reads are answered without the thread only while it has
 * no call in hand.
 */
import { spawn } from "node:child_process";
import { rmSync, writeFileSync } from "node:fs";
import path from "node:path";
import { afterEach, describe, expect, it, vi } from "vitest";
import { AppError } from "../../src/core/errors.ts";
import { openSqliteStore } from "../../src/store/sqlite/index.ts";
import { openThreadedSqliteStore, threadOf } from "../../src/store/sqlite/thread/threaded-store.ts";
import type { Store } from "../../src/store/store.ts";
import { testWorkDir, testWorkPath } from "../helpers/test-dirs.ts";
import { captureLog } from "../helpers/log-capture.ts";
import { LEASE_MS, MODEL, newBatch, startedBatch, T0 } from "./store-fixtures.ts";

const opened: Store[] = [];
afterEach(async () => {
  await Promise.all(opened.splice(0).map((store) => store.close()));
});

async function openStore(name: string): Promise<Store> {
  const store = await openThreadedSqliteStore(testWorkPath("stores", `threaded ${name}`, ".sqlite"));
  opened.push(store);
  await store.migrate();
  return store;
}

async function rejection(operation: Promise<unknown>): Promise<Error> {
  return operation.then(
    () => {
      throw new Error("expected the operation to fail");
    },
    (error: unknown) => error as Error,
  );
}

describe("SQLite store on its own thread", () => {
  it("rejects with the same AppError (class, code, param, message) as the store in this thread", async () => {
    const store = await openStore("errors");
    const batch = await startedBatch(store, 1);
    const missing = await rejection(store.cancelBatch("batch_missing", T0));
    expect(missing).toBeInstanceOf(AppError);
    expect(missing).toMatchObject({ code: "not_found", param: "batch_id", message: "No batch found with id batch_missing." });
    const duplicate = await rejection(store.createBatch(newBatch({ id: batch.id })));
    expect(duplicate).toBeInstanceOf(AppError);
    expect(duplicate).toMatchObject({ code: "already_exists", message: `A batch with id ${batch.id} already exists.` });
    // The driver's error travels as the cause, with its code.
    expect((duplicate.cause as { code?: string }).code).toMatch(/^SQLITE_CONSTRAINT/);
  });

  it("answers a point read without a message to an idle thread, and never ahead of a write sent before it", async () => {
    const store = await openStore("local reads");
    const batch = await startedBatch(store, 2);
    const thread = threadOf(store)!;
    const sent = vi.spyOn(thread, "postMessage");
    try {
      // Idle: the read-only connection on this thread answers, and sees what the thread committed.
      expect(await store.getBatch(batch.id)).toMatchObject({ id: batch.id, status: "in_progress" });
      expect(await store.getBatch("batch_missing")).toBeNull();
      expect(sent).not.toHaveBeenCalled();
      // A write in flight (not awaited): the read goes behind it through the thread and sees it.
      const cancelling = store.cancelBatch(batch.id, T0 + 5);
      const read = store.getBatch(batch.id);
      expect(sent.mock.calls.map(([message]) => (message as { method: string }).method)).toEqual(["cancelBatch", "getBatch"]);
      expect((await read)?.status).toBe((await cancelling).status);
      expect((await read)?.status).not.toBe("in_progress");
    } finally {
      sent.mockRestore();
    }
  });

  it("refuses a method whose arguments hold a function, naming it, and keeps working", async () => {
    const store = await openStore("functions");
    const refused = await rejection(store.beatCapacity({ owner: "w", nowMs: T0, staleMs: 1_000, decide: () => [] }));
    expect(refused.message).toMatch(/beatCapacity takes a function, which cannot be sent to the SQLite store's thread/);
    expect(await store.getBatch("batch_missing")).toBeNull();
  });

  it("fails to open with the same error as the store in this thread", async () => {
    const dir = testWorkDir("stores", "threaded open failure");
    const notADirectory = path.join(dir, "file");
    writeFileSync(notADirectory, "x");
    const file = path.join(notADirectory, "spool.sqlite");
    const direct = await rejection(openSqliteStore(file).then((store) => store.migrate()));
    const threaded = await rejection(openThreadedSqliteStore(file).then((store) => store.migrate()));
    expect(threaded.message).toBe(direct.message);
    expect((threaded as { code?: string }).code).toBe((direct as { code?: string }).code);
  });

  it("answers unavailable once closed; closing twice is harmless", async () => {
    const store = await openThreadedSqliteStore(testWorkPath("stores", "threaded closed", ".sqlite"));
    await store.migrate();
    await store.close();
    await store.close();
    const closed = await rejection(store.getBatch("batch_x"));
    expect(closed).toBeInstanceOf(AppError);
    expect((closed as AppError).code).toBe("unavailable");
  });

  it("fails the calls waiting on a thread that dies with unavailable, and runs later calls on a new thread", async () => {
    const log = captureLog();
    const store = await openThreadedSqliteStore(testWorkPath("stores", "threaded dies", ".sqlite"), { logger: log.logger });
    opened.push(store);
    await store.migrate();
    const batch = await startedBatch(store, 2);
    const large = await startedBatch(store, 20_000);
    const first = threadOf(store);
    // The thread is busy reading 20k Items when it dies, so the call behind them is surely still waiting: a
    // lone quick call was sometimes answered before the terminate reached the thread on a loaded machine.
    const busy = store.readItems(large.id, { afterIndex: -1, limit: 20_000 });
    const waiting = store.listBatches({ limit: 10 });
    await first?.terminate();
    await rejection(busy);
    const lost = await rejection(waiting);
    expect(lost).toBeInstanceOf(AppError);
    expect((lost as AppError).code).toBe("unavailable");
    expect(log.errors(/the SQLite store's thread stopped/)).toHaveLength(1);
    // The next call starts a new thread on the same file: what was committed is all there.
    expect((await store.getBatch(batch.id))?.counts.total).toBe(2);
    expect(threadOf(store)).not.toBe(first);
    expect(log.lines.some((line) => /a new SQLite store thread opened the database/.test(line.msg))).toBe(true);
    const [claimed] = await store.claimItems({ owner: "w", model: MODEL, limit: 1, nowMs: T0 + 10, leaseMs: LEASE_MS });
    expect(claimed?.batchId).toBe(batch.id);
  });

  it("answers unavailable, and keeps answering, while no new thread can open the database", async () => {
    const dir = testWorkDir("stores", "threaded cannot reopen");
    const log = captureLog();
    const store = await openThreadedSqliteStore(path.join(dir, "spool.sqlite"), { logger: log.logger });
    opened.push(store);
    await store.migrate();
    await threadOf(store)?.terminate();
    // Its folder is now a file: no thread can open (or create) the database there.
    rmSync(dir, { recursive: true, force: true });
    writeFileSync(dir, "x");
    for (let attempt = 0; attempt < 3; attempt += 1) {
      const error = await rejection(store.getBatch("batch_x"));
      expect(error).toBeInstanceOf(AppError);
      expect((error as AppError).code).toBe("unavailable");
    }
    // One try to open, then calls fail at once until the back-off has passed (not a thread per call).
    expect(log.errors(/a new SQLite store thread could not open the database/)).toHaveLength(1);
  });

  it("does not keep a process alive once nothing waits on it (a CLI that forgets to close still exits)", async () => {
    const file = testWorkPath("stores", "threaded idle exit", ".sqlite");
    const script = `
      const { openThreadedSqliteStore } = await import(${JSON.stringify(path.resolve("src/store/sqlite/thread/threaded-store.ts"))});
      const store = await openThreadedSqliteStore(${JSON.stringify(file)});
      await store.migrate();
      console.log(JSON.stringify(await store.listBatches({ limit: 1 })));
    `;
    const scriptFile = testWorkPath("stores", "threaded idle exit", ".mts");
    writeFileSync(scriptFile, script);
    const child = spawn(process.execPath, ["--import", "tsx", scriptFile], { stdio: ["ignore", "pipe", "pipe"] });
    let output = "";
    child.stdout.on("data", (chunk: Buffer) => (output += chunk.toString()));
    child.stderr.on("data", (chunk: Buffer) => (output += chunk.toString()));
    const code = await new Promise<number | null>((resolve, reject) => {
      const timer = setTimeout(() => {
        child.kill("SIGKILL");
        reject(new Error(`the process did not exit within 20 s: ${output}`));
      }, 20_000);
      child.on("exit", (exitCode) => {
        clearTimeout(timer);
        resolve(exitCode);
      });
    });
    expect(output.trim()).toBe(JSON.stringify({ batches: [], hasMore: false }));
    expect(code).toBe(0);
  });
});
