/**
 * Result files written while a large Batch runs (src/worker/early-results.ts, decision 0054): only the
 * Items finished from the first on, and the files finalization then completes are byte for byte the ones
 * finalization alone writes. The Store and the BlobStore are real.
 */
import { text } from "node:stream/consumers";
import { pino } from "pino";
import { describe, expect, it } from "vitest";
import type { Batch } from "../../src/core/types.ts";
import { BATCH_FORMATS } from "../../src/dialects/registry.ts";
import { LocalBlobStore } from "../../src/store/blob/local-blob-store.ts";
import type { ClaimedItem, Store } from "../../src/store/store.ts";
import { EarlyResults, type EarlyResultsOptions } from "../../src/worker/early-results.ts";
import { finalizeBatch, resultFileIds, type ResultFiles } from "../../src/worker/finalize-batch.ts";
import { storeBackends, useStores } from "../helpers/store-backends.ts";
import { testWorkDir } from "../helpers/test-dirs.ts";
import { completion, LEASE_MS, MODEL, startedBatch, T0 } from "../store/store-fixtures.ts";
import { chatLine } from "../helpers/batch-files.ts";
import { waitFor } from "../helpers/wait-for.ts";
import { MODEL as LOOP_MODEL, useLoopFixture } from "./loop-fixture.ts";

const ITEMS = 250;
const OWNER = "worker-1";
const logger = pino({ level: "silent" });

/** Every third Item fails, so both result files have lines. */
const statusOf = (index: number): "succeeded" | "failed" => (index % 3 === 0 ? "failed" : "succeeded");

async function claimAll(store: Store): Promise<Map<string, ClaimedItem>> {
  const items = await store.claimItems({ owner: OWNER, model: MODEL, limit: 10 * ITEMS, nowMs: T0 + 10, leaseMs: LEASE_MS });
  return new Map(items.map((item) => [`${item.batchId}:${item.index}`, item]));
}

async function complete(store: Store, claimed: Map<string, ClaimedItem>, batch: Batch, indexes: Iterable<number>): Promise<void> {
  const completions = [...indexes].map((index) => completion(claimed.get(`${batch.id}:${index}`)!, OWNER, T0 + 20, statusOf(index)));
  expect(await store.completeItems(completions, T0 + 20)).toBe(completions.length);
}

const range = (from: number, to: number): number[] => Array.from({ length: to - from }, (_, i) => from + i);

/** A BlobStore in the running test's own directory. */
const testBlobs = (): LocalBlobStore => new LocalBlobStore(testWorkDir("early-results", expect.getState().currentTestName ?? "early"));

/** EarlyResults over `store` that writes any Batch of 100 Items or more, at every new result. */
const earlyOver = (store: Store, options: EarlyResultsOptions): EarlyResults =>
  new EarlyResults({ store, blobs: testBlobs(), formats: BATCH_FORMATS, logger, clock: { now: () => T0 + 30 }, owner: OWNER, leaseMs: LEASE_MS }, { minItems: 100, minNewItems: 1, ...options });

describe.each(storeBackends)("Result files written early on the $name store", (backend) => {
  const stores = useStores(backend);
  const loops = useLoopFixture();

  it("writes the finished Items from the first on, stops at the first unfinished one, and ends with finalization's own bytes", async () => {
    const store = await stores.open();
    const blobs = testBlobs();
    const deps = { store, blobs, formats: BATCH_FORMATS, logger, clock: { now: () => T0 + 30 }, owner: OWNER, leaseMs: LEASE_MS };
    const early = new EarlyResults(deps, { minItems: 100, minNewItems: 1, everyMs: 60_000 });
    // Two Batches of the same Items and results: one written early, one by finalization alone.
    const written = await startedBatch(store, ITEMS);
    const alone = await startedBatch(store, ITEMS, { createdAtMs: T0 + 1 });
    const claimed = await claimAll(store);

    // Items 0-99 and 150-199 finished: only the first hundred can be written (101 has no result yet).
    await complete(store, claimed, written, [...range(0, 100), ...range(150, 200)]);
    early.noteResults([written.id, alone.id]);
    await early.lookNow();
    expect(early.linesWritten).toBe(100);
    // Nothing new finished: a second look writes nothing more.
    early.noteResults([written.id]);
    await early.lookNow();
    expect(early.linesWritten).toBe(100);

    await complete(store, claimed, written, [...range(100, 150), ...range(200, ITEMS)]);
    await complete(store, claimed, alone, range(0, ITEMS));
    // Finalization takes the files, then claims the Batch (as the Sweeper does).
    const files: Record<string, ResultFiles | null> = { [written.id]: await early.take(written.id), [alone.id]: await early.take(alone.id) };
    const finalizing = new Map<string, Batch>();
    for (const batch of [written, alone]) finalizing.set(batch.id, (await store.claimFinalization(batch.id, { owner: OWNER, nowMs: T0 + 30, leaseMs: LEASE_MS }))!);
    expect(files[written.id]?.afterIndex).toBe(99);
    // The other had nothing finished when it was looked at: nothing of it was written early.
    expect(files[alone.id]?.afterIndex ?? -1).toBe(-1);
    const contents: string[] = [];
    for (const batch of [written, alone]) {
      const finished = await finalizeBatch(deps, finalizing.get(batch.id)!, "completed", OWNER, files[batch.id] ?? null);
      expect(finished?.status).toBe("completed");
      const ids = resultFileIds(batch.id);
      contents.push(`${await text(await blobs.read(ids.output))}\n--\n${await text(await blobs.read(ids.error))}`);
    }
    // Lines carry ids made from their Batch's id: the same once those are set aside.
    const sameIds = (content: string): string => content.replace(/(batch_req|req)_[A-Za-z0-9]+_(\d+)/g, "$1_X_$2");
    expect(sameIds(contents[0]!)).toBe(sameIds(contents[1]!));
    expect(contents[0]!.split("\n").filter((line) => line.startsWith("{")).length).toBe(ITEMS);
  });

  it("leaves small and ended Batches to finalization, and gives nothing for a Batch it stopped writing", async () => {
    const store = await stores.open();
    const early = earlyOver(store, { everyMs: 60_000 });
    const small = await startedBatch(store, 50);
    const large = await startedBatch(store, ITEMS, { createdAtMs: T0 + 1 });
    const claimed = await claimAll(store);
    await complete(store, claimed, small, range(0, 50));
    await complete(store, claimed, large, range(0, 120));
    early.noteResults([small.id, large.id]);
    await early.lookNow();
    expect(early.linesWritten).toBe(120);
    expect(await early.take(small.id)).toBeNull();

    // The large Batch is cancelled: the next look lets its files go, and finalization writes them all.
    await store.cancelBatch(large.id, T0 + 40);
    early.noteResults([large.id]);
    await early.lookNow();
    expect(await early.take(large.id)).toBeNull();
    await early.close();
  });

  it("lets go of a Batch another process finalizes, with no more of its results coming, and writes another in its place", async () => {
    const store = await stores.open();
    const early = earlyOver(store, { everyMs: 20, maxBatches: 1 });
    const first = await startedBatch(store, ITEMS);
    const second = await startedBatch(store, ITEMS, { createdAtMs: T0 + 1 });
    const claimed = await claimAll(store);
    await complete(store, claimed, first, range(0, 120));
    early.noteResults([first.id]);
    await early.lookNow();
    expect(early.linesWritten).toBe(120);
    // Its one slot is taken: the second Batch waits.
    await complete(store, claimed, second, range(0, 50));
    early.noteResults([second.id]);
    await early.lookNow();
    expect(early.linesWritten).toBe(120);
    // The look the last note armed (everyMs later) comes and goes: only the slower one is left to come.
    await new Promise((resolve) => setTimeout(resolve, 60));

    // Another process (sharing the Store) records the first Batch's last results. While this one's results
    // writer Lease lasts, that process may not finalize it; once the Lease has expired (this process stalled
    // past it), it does, and none of that reaches this one. Looked at again on its own (every 10 x everyMs),
    // the Batch is let go.
    await complete(store, claimed, first, range(120, ITEMS));
    expect(await store.claimFinalization(first.id, { owner: "worker-2", nowMs: T0 + 30, leaseMs: LEASE_MS })).toBeNull();
    expect(await store.claimFinalization(first.id, { owner: "worker-2", nowMs: T0 + 30 + LEASE_MS, leaseMs: LEASE_MS })).not.toBeNull();
    await waitFor(() => (early.heldBatches === 0 ? true : undefined), { what: "the files of the Batch finalized elsewhere let go", timeoutMs: 5_000 });
    expect(await early.take(first.id)).toBeNull();
    // The slot is free again: the second Batch's finished Items are written.
    early.noteResults([second.id]);
    await early.lookNow();
    expect(early.linesWritten).toBe(170);
    await early.close();
  });

  it("looks again at the files it holds after a pause, with no results coming", async () => {
    const store = await stores.open();
    let paused = false;
    const early = earlyOver(store, { everyMs: 20, paused: () => paused });
    const batch = await startedBatch(store, ITEMS);
    const claimed = await claimAll(store);
    await complete(store, claimed, batch, range(0, 80));
    early.noteResults([batch.id]);
    await early.lookNow();
    expect(early.heldBatches).toBe(1);
    // Another process finalizes the Batch while this one is paused, past this one's results writer Lease
    // (renewed only by looks): the rechecks that come meanwhile read nothing.
    paused = true;
    await complete(store, claimed, batch, range(80, ITEMS));
    expect(await store.claimFinalization(batch.id, { owner: "worker-2", nowMs: T0 + 30 + LEASE_MS, leaseMs: LEASE_MS })).not.toBeNull();
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(early.heldBatches).toBe(1);
    paused = false;
    await waitFor(() => (early.heldBatches === 0 ? true : undefined), { what: "the files let go after the pause", timeoutMs: 5_000 });
    await early.close();
  });

  it("writes nothing while paused (sync requests about), and catches up once the pause ends", async () => {
    const store = await stores.open();
    let paused = true;
    const early = earlyOver(store, { everyMs: 60_000, paused: () => paused });
    const batch = await startedBatch(store, ITEMS);
    const claimed = await claimAll(store);
    await complete(store, claimed, batch, range(0, 80));
    early.noteResults([batch.id]);
    await early.lookNow();
    expect(early.linesWritten).toBe(0);
    paused = false;
    // What was noted during the pause is still looked at.
    await early.lookNow();
    expect(early.linesWritten).toBe(80);
    await early.close();
  });

  it("leaves a Batch to the process writing it early, whichever process records its last result (decision 0061)", async () => {
    const [storeA, storeB] = await stores.openShared(2);
    const { clock, blobs, startBatch, createSweeper } = await loops.create(storeA!);
    const earlyResults = { minItems: 100, minNewItems: 1, everyMs: 60_000 };
    const writer = createSweeper({ owner: "writer", earlyResults });
    const other = createSweeper({ owner: "other", store: storeB, earlyResults });
    const batch = await startBatch(Array.from({ length: ITEMS }, (_, i) => chatLine(`req-${i}`, `prompt ${i}`)));
    const claimed = await storeA!.claimItems({ owner: OWNER, model: LOOP_MODEL, limit: ITEMS, nowMs: clock.now(), leaseMs: LEASE_MS });
    const finish = (store: Store, from: number, to: number) => store.completeItems(claimed.slice(from, to).map((item) => completion(item, OWNER, clock.now())), clock.now());

    await finish(storeA!, 0, 120);
    writer.early!.noteResults([batch.id]);
    await writer.early!.lookNow();
    expect(writer.early!.linesWritten).toBe(120);
    // The other process has results of it too, but the Batch is being written: it writes nothing of it.
    other.early!.noteResults([batch.id]);
    await other.early!.lookNow();
    expect([other.early!.heldBatches, other.early!.linesWritten]).toEqual([0, 0]);

    // The other process records the last results: its sweep leaves the Batch; the writer's finalizes it.
    await finish(storeB!, 120, ITEMS);
    await other.sweep();
    expect((await storeA!.getBatch(batch.id))?.status).toBe("in_progress");
    await writer.sweep();
    const done = await storeA!.getBatch(batch.id);
    expect(done?.status).toBe("completed");
    expect(writer.early!.heldBatches).toBe(0);
    const lines = (await text(await blobs.read(done!.outputFileId!))).trim().split("\n");
    expect(lines.map((line) => (JSON.parse(line) as { custom_id: string }).custom_id)).toEqual(Array.from({ length: ITEMS }, (_, i) => `req-${i}`));
  });

  it("writes a running Batch's results as the Worker records them, and its output is whole and in input order", async () => {
    const { store, blobs, upstream, startBatch, createWorker, createSweeper } = await loops.create(await stores.open());
    // Answers arrive out of order: the early writer must still write the lines in input order.
    upstream.setFault(({ key }) => (Number(/\d+/.exec(key)?.[0] ?? 0) % 7 === 0 ? { delayMs: 15 } : undefined));
    const sweeper = createSweeper({ earlyResults: { minItems: 100, minNewItems: 50, everyMs: 5 } });
    const batch = await startBatch(Array.from({ length: 1_000 }, (_, i) => chatLine(`req-${i}`, `prompt ${i}`)));
    sweeper.start();
    createWorker({ concurrency: 8, resultDelayMs: 2, onResults: (prompt, batchIds) => sweeper.notifyResults(prompt, batchIds) }).start();
    const done = await waitFor(async () => {
      const current = await store.getBatch(batch.id);
      return current?.status === "completed" ? current : undefined;
    }, { what: "the Batch completed", timeoutMs: 30_000 });
    expect(sweeper.early?.linesWritten).toBeGreaterThan(0);
    const lines = (await text(await blobs.read(done.outputFileId!))).trim().split("\n");
    expect(lines.map((line) => (JSON.parse(line) as { custom_id: string }).custom_id)).toEqual(Array.from({ length: 1_000 }, (_, i) => `req-${i}`));
  });
});
