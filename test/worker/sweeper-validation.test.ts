/**
 * The Sweeper's validation pass over real input Files, and the Sweeper and Worker loops running together
 * (each waking the other) from a validating Batch to a completed one.
 */
import { describe, expect, it, vi } from "vitest";
import { resultFileIds } from "../../src/worker/finalize-batch.ts";
import type { Store } from "../../src/store/store.ts";
import { PROCESS_WRITES, WRITES_IN_FLIGHT } from "../../src/worker/validate-batch.ts";
import { chatLine } from "../helpers/batch-files.ts";
import { storeBackends, useStores } from "../helpers/store-backends.ts";
import { waitFor } from "../helpers/wait-for.ts";
import { blobText, itemsOf, useLoopFixture } from "./loop-fixture.ts";

/** The real Store, with its chunk writes (insertItems) counted while they run: the most under way at once. */
function countingWrites(real: Store): { store: Store; most: () => number } {
  let underWay = 0;
  let most = 0;
  const store = new Proxy(real, {
    get(target, property, receiver) {
      const value = Reflect.get(target, property, receiver) as unknown;
      if (typeof value !== "function") return value;
      if (property !== "insertItems") return value.bind(target);
      return async (...args: unknown[]) => {
        underWay += 1;
        most = Math.max(most, underWay);
        try {
          return await (value as (...a: unknown[]) => Promise<unknown>).apply(target, args);
        } finally {
          underWay -= 1;
        }
      };
    },
  }) as Store;
  return { store, most: () => most };
}

describe.each(storeBackends)("Sweeper validation on the $name store", (backend) => {
  const stores = useStores(backend);
  const loops = useLoopFixture();

  it("starts a valid Batch: validating becomes in_progress, its Items become pending, and Workers are told", async () => {
    const { store, clock, submitBatch, createSweeper } = await loops.create(await stores.open());
    const batch = await submitBatch([chatLine("a", "first"), "", chatLine("b", "second"), chatLine("c", "third")]);
    expect(batch.status).toBe("validating");
    let told = 0;
    const sweeper = createSweeper({ onBatchStarted: () => (told += 1) });
    clock.advance(500);

    expect(await sweeper.validatePending()).toBe(1);
    const started = await store.getBatch(batch.id);
    expect(started).toMatchObject({ status: "in_progress", model: "gpt-test", errors: null, inProgressAtMs: clock.now() });
    expect(started?.counts).toEqual({ total: 3, succeeded: 0, failed: 0, cancelled: 0, expired: 0 });
    const items = await itemsOf(store, batch.id);
    expect(items.map((item) => [item.index, item.clientId, item.status, item.attempts])).toEqual([
      [0, "a", "pending", 0],
      [1, "b", "pending", 0],
      [2, "c", "pending", 0],
    ]);
    expect(told).toBe(1);
    expect(await sweeper.validatePending()).toBe(0);
  });

  it("starts over from the first line when an earlier attempt died with some Items inserted", async () => {
    const { store, clock, submitBatch, createSweeper } = await loops.create(await stores.open());
    const batch = await submitBatch([chatLine("a", "first"), chatLine("b", "second"), chatLine("c", "third")]);
    // A validator that claims the Batch, inserts its first chunk (two of the three lines, one of them wrong) and dies.
    const dead = await store.claimValidation({ owner: "dead-validator", nowMs: clock.now(), leaseMs: 1_000 });
    expect(dead?.id).toBe(batch.id);
    await store.insertItems(batch.id, [
      { index: 0, clientId: "a", echo: null, model: "gpt-test", kind: "chat", request: chatLine("a", "first") },
      { index: 1, clientId: "stale", echo: null, model: "gpt-test", kind: "chat", request: chatLine("stale", "left by the dead attempt") },
    ]);
    expect((await store.getBatch(batch.id))?.counts.total).toBe(2);
    clock.advance(1_001);

    expect(await createSweeper().validatePending()).toBe(1);
    const started = await store.getBatch(batch.id);
    expect(started?.status).toBe("in_progress");
    expect(started?.counts).toEqual({ total: 3, succeeded: 0, failed: 0, cancelled: 0, expired: 0 });
    expect((await itemsOf(store, batch.id)).map((item) => [item.index, item.clientId])).toEqual([
      [0, "a"],
      [1, "b"],
      [2, "c"],
    ]);
  });

  it("stops a validation whose chunk could not be written while the next was being read, and starts over once the Store is back", async () => {
    const { store, clock, submitBatch, createSweeper } = await loops.create(await stores.open());
    // Twelve chunks of Items (1,000 a write): the sixth one's write fails while the seventh is parsed.
    const batch = await submitBatch(Array.from({ length: 12_000 }, (_, index) => chatLine(`r${index}`, `line ${index}`)));
    const restore = await backend.failUpdates(store, "item_requests", { operation: "INSERT", when: "NEW.idx >= 5000" });
    const limits = { maxBatchItems: 20_000 };
    expect(await createSweeper({ limits }).validatePending()).toBe(1);
    // The first five chunks went in (and are counted); the attempt stopped at the sixth, and its Lease holds the
    // Batch until the retry.
    expect(await store.getBatch(batch.id)).toMatchObject({ status: "validating", counts: { total: 5_000 } });

    await restore();
    clock.advance(60_000);
    expect(await createSweeper({ limits }).validatePending()).toBe(1);
    const started = await store.getBatch(batch.id);
    expect(started).toMatchObject({ status: "in_progress", counts: { total: 12_000, succeeded: 0, failed: 0, cancelled: 0, expired: 0 } });
    const items = await itemsOf(store, batch.id);
    expect(items.map((item) => item.clientId)).toEqual(Array.from({ length: 12_000 }, (_, index) => `r${index}`));
  });

  it("stops a validation at its next look once the Batch was cancelled through another Store connection, with no announcement heard", async () => {
    const [own, other] = await stores.openShared(2);
    const sweepMs = 1_000;
    let batchId = "";
    let writes = 0;
    // The other process's cancel lands after the third chunk is written, and a look's worth of time passes.
    const store = new Proxy(own!, {
      get(target, property, receiver) {
        const value = Reflect.get(target, property, receiver) as unknown;
        if (typeof value !== "function") return value;
        if (property !== "insertItems") return value.bind(target);
        return async (...args: unknown[]) => {
          const written = (await (value as (...a: unknown[]) => Promise<unknown>).apply(target, args)) as unknown;
          if ((writes += 1) === 3) {
            await other!.cancelBatch(batchId, clock.now());
            clock.advance(sweepMs);
          }
          return written;
        };
      },
    }) as Store;
    const { clock, submitBatch, createSweeper } = await loops.create(store);
    batchId = (await submitBatch(Array.from({ length: 12_000 }, (_, index) => chatLine(`r${index}`, `line ${index}`)))).id;
    const looks = vi.spyOn(own!, "cancelledBatches");

    expect(await createSweeper({ limits: { maxBatchItems: 20_000 }, settings: { sweepMs } }).validatePending()).toBe(1);
    // Not read to the end: the Batch ends as one cancelled before its validation began, with no Items.
    expect(await other!.getBatch(batchId)).toMatchObject({ status: "cancelling", counts: { total: 0, cancelled: 0 } });
    expect(await itemsOf(other!, batchId)).toEqual([]);
    expect(looks).toHaveBeenCalledWith([batchId]);
    expect(writes).toBeLessThan(12);
  });

  it("writes a chunk while the one before it is still being written, never more than WRITES_IN_FLIGHT at once, and every Item lands", async () => {
    const { store: counting, most } = countingWrites(await stores.open());
    const { store, submitBatch, createSweeper } = await loops.create(counting);
    const batch = await submitBatch(Array.from({ length: 9_500 }, (_, index) => chatLine(`r${index}`, `line ${index}`)));
    expect(await createSweeper({ limits: { maxBatchItems: 20_000 } }).validatePending()).toBe(1);
    // The in-process SQLite Store writes synchronously: its write ends before the next chunk is full.
    expect(most()).toBe(backend.name === "sqlite" ? 1 : WRITES_IN_FLIGHT);
    expect(await store.getBatch(batch.id)).toMatchObject({ status: "in_progress", counts: { total: 9_500 } });
    const items = await itemsOf(store, batch.id);
    expect(items.map((item) => [item.index, item.clientId])).toEqual(Array.from({ length: 9_500 }, (_, index) => [index, `r${index}`]));
  });

  it("keeps the chunk writes of validations running side by side to PROCESS_WRITES at once (PostgreSQL pool connections)", async () => {
    const { store: counting, most } = countingWrites(await stores.open());
    const { store, submitBatch, createSweeper } = await loops.create(counting);
    const batches: Awaited<ReturnType<typeof submitBatch>>[] = [];
    for (let b = 0; b < 4; b += 1) batches.push(await submitBatch(Array.from({ length: 6_000 }, (_, index) => chatLine(`b${b}-${index}`, `line ${index}`))));
    const sweeper = createSweeper({ limits: { maxBatchItems: 20_000 } });
    sweeper.start();
    try {
      await waitFor(async () => (await Promise.all(batches.map((batch) => store.getBatch(batch.id)))).every((batch) => batch?.status === "in_progress"), { what: "all four Batches validated" });
    } finally {
      await sweeper.stop();
    }
    // Four validations wanting two writes each: more than one validation writes at once, never past the cap.
    if (backend.name !== "sqlite") expect(most()).toBeGreaterThan(WRITES_IN_FLIGHT);
    expect(most()).toBeLessThanOrEqual(PROCESS_WRITES);
    for (const batch of batches) expect((await store.getBatch(batch.id))?.counts.total).toBe(6_000);
  });

  it("fails a Batch with bad lines, listing every LineError, and keeps none of its Items", async () => {
    const { store, submitBatch, createSweeper } = await loops.create(await stores.open());
    const batch = await submitBatch([
      chatLine("ok", "fine"),
      "{not json",
      JSON.stringify({ method: "POST", url: "/v1/chat/completions", body: { model: "gpt-test", messages: [] } }),
      JSON.stringify({ custom_id: "wrong-url", method: "POST", url: "/v1/embeddings", body: { model: "gpt-test", messages: [{ role: "user", content: "x" }] } }),
      chatLine("ok", "again"),
      chatLine("unknown-model", "x", "no-such-model"),
    ]);
    let told = 0;
    expect(await createSweeper({ onBatchStarted: () => (told += 1) }).validatePending()).toBe(1);

    const failed = await store.getBatch(batch.id);
    expect(failed?.status).toBe("failed");
    expect(failed?.errors?.map((error) => [error.line, error.code])).toEqual([
      [2, "invalid_json_line"],
      [3, "missing_required_parameter"],
      [3, "invalid_value"],
      [4, "invalid_url"],
      [5, "duplicate_custom_id"],
      [6, "model_not_found"],
      // Its model also differs from the first line's, as `spool validate` without a config reports it.
      [6, "model_mismatch"],
    ]);
    expect(failed?.errors?.find((error) => error.line === 4)?.param).toBe("url");
    expect(await itemsOf(store, batch.id)).toEqual([]);
    expect(told).toBe(0);
  });

  it("fails a Batch whose input File has no requests", async () => {
    const { store, submitBatch, createSweeper } = await loops.create(await stores.open());
    const batch = await submitBatch(["", "   "]);
    await createSweeper().validatePending();
    expect(await store.getBatch(batch.id)).toMatchObject({ status: "failed", errors: [{ line: null, code: "empty_file" }] });
  });

  it("runs the good lines of a skip-policy Batch and stores each bad line as a failed Item", async () => {
    const { store, submitBatch, createSweeper } = await loops.create(await stores.open());
    const batch = await submitBatch([chatLine("a", "one"), "{oops", chatLine("c", "three")], { invalidLinePolicy: "skip" });
    await createSweeper().validatePending();

    const started = await store.getBatch(batch.id);
    expect(started?.status).toBe("in_progress");
    expect(started?.counts).toMatchObject({ total: 3, failed: 1 });
    expect(started?.errors?.map((error) => [error.line, error.code])).toEqual([[2, "invalid_json_line"]]);
    const items = await itemsOf(store, batch.id);
    expect(items.map((item) => item.status)).toEqual(["pending", "failed", "pending"]);
    expect(items[1]?.result?.errorCode).toBe("invalid_request");
  });

  it("runs with the Worker loop, each waking the other, from validating to completed", async () => {
    const { store, blobs, submitBatch, createWorker, createSweeper } = await loops.create(await stores.open());
    // Long poll and sweep periods: only the wake-ups between the loops can make this finish quickly.
    const settings = { pollMs: 60_000, sweepMs: 60_000 };
    let sweeper: ReturnType<typeof createSweeper> | null = null;
    const worker = createWorker({ settings, onResults: () => sweeper?.notifyResults() });
    sweeper = createSweeper({ settings, onBatchStarted: () => worker.notify() });
    worker.start();
    sweeper.start();

    const batch = await submitBatch([chatLine("a", "one"), chatLine("b", "two")]);
    sweeper.notify();
    const done = await waitFor(async () => {
      const current = await store.getBatch(batch.id);
      return current?.status === "completed" ? current : undefined;
    }, { what: "the batch to complete", timeoutMs: 20_000 });
    expect(done.outputFileId).toBe(resultFileIds(batch.id).output);
    const lines = (await blobText(blobs, done.outputFileId ?? "")).trim().split("\n");
    expect(lines.map((line) => (JSON.parse(line) as { custom_id: string }).custom_id)).toEqual(["a", "b"]);
    await sweeper.stop();
  });

  it("looks for expired Leases once per period, not on every wake by results or events", async () => {
    const { store, clock, submitBatch, createSweeper } = await loops.create(await stores.open());
    const batch = await submitBatch([chatLine("a", "one")]);
    const sweeper = createSweeper({ settings: { sweepMs: 60_000 } });
    await sweeper.validatePending();
    const [held] = await store.claimItems({ owner: "stopped-worker", model: "gpt-test", limit: 1, nowMs: clock.now(), leaseMs: 1_000 });
    expect(held?.batchId).toBe(batch.id);
    const statusOfItem = async (): Promise<string | undefined> => (await itemsOf(store, batch.id))[0]?.status;
    sweeper.start();
    await new Promise((resolve) => setTimeout(resolve, 200)); // the first pass: nothing has expired yet

    clock.advance(30_000); // the Lease has expired, but the period has not passed since the first pass
    for (let i = 0; i < 5; i += 1) {
      sweeper.notifyResults(); // results wake only the look for finished Batches
      sweeper.notify(); // events wake a whole sweep, which looks for expired Leases only once per period
      await new Promise((resolve) => setTimeout(resolve, 150));
    }
    expect(await statusOfItem()).toBe("running");

    clock.advance(30_000); // a full period since the first pass: the next sweep looks
    sweeper.notify();
    await waitFor(async () => (await statusOfItem()) === "pending", { what: "the expired Lease to be recovered" });
    await sweeper.stop();
  });

  it("finalizes on recorded results without looking for Batches to validate, which only a create or the period wakes", async () => {
    const { store, submitBatch, createSweeper } = await loops.create(await stores.open());
    const sweeper = createSweeper({ settings: { sweepMs: 60_000 } });
    // The validation loop's first pass (at start) validates a first Batch, then sleeps: the next period is a
    // minute away.
    const first = await submitBatch([chatLine("a", "one")]);
    sweeper.start();
    await waitFor(async () => (await store.getBatch(first.id))?.status === "in_progress", { what: "the first pass" });
    await new Promise((resolve) => setTimeout(resolve, 200));
    const batch = await submitBatch([chatLine("b", "two")]);
    for (let i = 0; i < 5; i += 1) sweeper.notifyResults();
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect((await store.getBatch(batch.id))?.status).toBe("validating");

    sweeper.notify();
    await waitFor(async () => (await store.getBatch(batch.id))?.status === "in_progress", { what: "validation once told of the Batch" });
    await sweeper.stop();
  });
});
