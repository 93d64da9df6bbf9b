/**
 * A Batch ends promptly after its last Item: the Worker writes its last results at once when it has nothing
 * else claimed or running, and the Sweeper finalizes at once on results from a Worker that went idle,
 * instead of waiting out the flush delay and the gap between sweeps (together 20-120 ms per small Batch).
 * Both waits stay for a busy Worker, where they batch writes and sweeps. The delays are set to a minute
 * here, so only the prompt paths can finish the Batch within the test.
 */
import { describe, expect, it } from "vitest";
import { newFileId } from "../../src/core/ids.ts";
import type { Batch } from "../../src/core/types.ts";
import type { Store } from "../../src/store/store.ts";
import { chatLine } from "../helpers/batch-files.ts";
import { storeBackends, useStores } from "../helpers/store-backends.ts";
import { waitFor } from "../helpers/wait-for.ts";
import { gate, useLoopFixture } from "./loop-fixture.ts";

const MINUTE_MS = 60_000;
const prompts = (count: number): string[] => Array.from({ length: count }, (_, i) => chatLine(`req-${i}`, `prompt ${i}`));
const pause = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** A File already expired: the Sweeper's first (full) pass, at its start, deletes it, which shows that pass is over. */
async function expiredFile(store: Store, nowMs: number): Promise<string> {
  const id = newFileId();
  await store.createFile({
    id, purpose: "batch", filename: "old.jsonl", displayName: null, mimeType: "application/jsonl",
    bytes: 0, sha256: "", source: "uploaded", createdAtMs: nowMs - 2, expiresAtMs: nowMs - 1,
  });
  return id;
}

describe.each(storeBackends)("A Batch's end on the $name store", (backend) => {
  const stores = useStores(backend);
  const loops = useLoopFixture();

  it("keeps results waiting while the Worker runs other Items, and writes them at once when it goes idle", async () => {
    const { store, upstream, startBatch, createWorker } = await loops.create(await stores.open());
    const last = gate();
    upstream.setFault(({ key }) => (key.endsWith(" 3") ? { until: last.opened } : undefined));
    const batch = await startBatch(prompts(4));
    const idleFlags: boolean[] = [];
    createWorker({ concurrency: 4, resultDelayMs: MINUTE_MS, onResults: (idle) => idleFlags.push(idle) }).start();
    await waitFor(() => upstream.requests === 4 && upstream.inFlight === 1, { what: "three answered, one held" });
    await pause(300);
    // Three results are in the Worker, one request still running: they wait for the (minute-long) delay.
    expect((await store.getBatch(batch.id))?.counts.succeeded).toBe(0);
    expect(idleFlags).toEqual([]);

    last.open();
    await waitFor(async () => (await store.getBatch(batch.id))?.counts.succeeded === 4, { what: "all four recorded", timeoutMs: 10_000 });
    expect(idleFlags).toEqual([true]);
  });

  it("looks for finished Batches on results at most once per gap, at once for an idle Worker's, and does only that", async () => {
    const { store, clock, upstream, startBatch, createWorker, createSweeper } = await loops.create(await stores.open());
    const held = gate();
    upstream.setFault(({ key }) => (key.startsWith("prompt") ? { until: held.opened } : undefined));
    const batch = await startBatch(prompts(3));
    const probe = await startBatch([chatLine("probe-0", "probe")]);
    const statusOf = async (id: string): Promise<string | undefined> => (await store.getBatch(id))?.status;
    const sweeper = createSweeper({ minSweepGapMs: MINUTE_MS, settings: { sweepMs: 2 * MINUTE_MS } });

    const marker = await expiredFile(store, clock.now());
    sweeper.start();
    await waitFor(async () => (await store.getFile(marker)) === null, { what: "the first sweep" });
    const later = await expiredFile(store, clock.now());

    // The Worker (not wired to this Sweeper: the test tells it) finishes the probe while the other three are held.
    createWorker({ concurrency: 4 }).start();
    await waitFor(async () => upstream.inFlight === 3 && (await store.getBatch(probe.id))?.counts.succeeded === 1, { what: "the probe recorded" });
    // The first results after a quiet spell are looked at once: the probe finishes.
    sweeper.notifyResults(false);
    await waitFor(async () => (await statusOf(probe.id)) === "completed", { what: "the probe finalized" });

    held.open();
    await waitFor(async () => (await store.getBatch(batch.id))?.counts.succeeded === 3, { what: "the results recorded" });
    // A busy Worker's results within the gap wait for it.
    sweeper.notifyResults(false);
    await pause(500);
    expect(await statusOf(batch.id)).toBe("in_progress");

    sweeper.notifyResults(true);
    const done = await waitFor(async () => {
      const current = await store.getBatch(batch.id);
      return current?.status === "completed" ? current : undefined;
    }, { what: "the Batch completed", timeoutMs: 10_000 });
    expect(done.outputFileId).not.toBeNull();
    // Only finalization: retention (like expiry and lease recovery) waits for the next full sweep.
    expect(await store.getFile(later)).not.toBeNull();
  });

  it("looks after results only at the Batches they came from, and at all when told more than it keeps", async () => {
    const { store, clock, startBatch, createWorker, createSweeper } = await loops.create(await stores.open());
    const sweeper = createSweeper({ minSweepGapMs: MINUTE_MS, settings: { sweepMs: 2 * MINUTE_MS } });
    const marker = await expiredFile(store, clock.now());
    sweeper.start();
    await waitFor(async () => (await store.getFile(marker)) === null, { what: "the first sweep" });
    // Three one-Item Batches run to their end after the first sweep; the Worker is not wired to the Sweeper.
    const [a, b, c] = [await startBatch(prompts(1)), await startBatch(prompts(1)), await startBatch(prompts(1))];
    createWorker({ concurrency: 4 }).start();
    const finished = async (id: string): Promise<boolean> => (await store.getBatch(id))?.counts.succeeded === 1;
    await waitFor(async () => (await finished(a.id)) && (await finished(b.id)) && (await finished(c.id)), { what: "all three recorded" });
    const statusOf = async (id: string): Promise<string | undefined> => (await store.getBatch(id))?.status;

    sweeper.notifyResults(true, new Set([a.id]));
    await waitFor(async () => (await statusOf(a.id)) === "completed", { what: "the Batch named finalized" });
    await pause(300);
    expect([await statusOf(b.id), await statusOf(c.id)]).toEqual(["in_progress", "in_progress"]);

    // More Batches than it keeps a list of (none of them b or c): the look is at every live Batch.
    sweeper.notifyResults(true, new Set(Array.from({ length: 1_001 }, (_, i) => `batch_elsewhere${i}`)));
    await waitFor(async () => (await statusOf(b.id)) === "completed" && (await statusOf(c.id)) === "completed", { what: "the others finalized" });
  });

  it("finalizes every Batch named even when more are ready than one look takes", async () => {
    const { store, clock, startBatch, createWorker, createSweeper } = await loops.create(await stores.open());
    const sweeper = createSweeper({ minSweepGapMs: 50, settings: { sweepMs: 2 * MINUTE_MS } });
    const marker = await expiredFile(store, clock.now());
    sweeper.start();
    await waitFor(async () => (await store.getFile(marker)) === null, { what: "the first sweep" });
    const batches: Batch[] = [];
    for (let i = 0; i < 23; i += 1) batches.push(await startBatch(prompts(1)));
    createWorker({ concurrency: 8 }).start();
    await waitFor(async () => (await Promise.all(batches.map((batch) => store.getBatch(batch.id)))).every((batch) => batch?.counts.succeeded === 1), { what: "all recorded", timeoutMs: 10_000 });

    sweeper.notifyResults(true, new Set(batches.map((batch) => batch.id)));
    await waitFor(async () => (await Promise.all(batches.map((batch) => store.getBatch(batch.id)))).every((batch) => batch?.status === "completed"), { what: "all 23 completed", timeoutMs: 10_000 });
  });

  it("ends a Batch at once when its last Item finishes while the Worker is busy with another Batch", async () => {
    const { store, upstream, startBatch, createWorker, createSweeper } = await loops.create(await stores.open());
    const held = gate();
    const smallGo = gate();
    upstream.setFault(({ key }) => (key.startsWith("hold") ? { until: held.opened } : { until: smallGo.opened }));
    const busy = await startBatch(Array.from({ length: 4 }, (_, i) => chatLine(`b-${i}`, `hold ${i}`)));
    const small = await startBatch(prompts(3));
    const sweeper = createSweeper({ minSweepGapMs: MINUTE_MS, settings: { sweepMs: 2 * MINUTE_MS } });
    sweeper.start();
    // Results wait a minute to be written, and looks for finished Batches a minute apart, unless prompted.
    createWorker({ concurrency: 8, resultDelayMs: MINUTE_MS, onResults: (prompt) => sweeper.notifyResults(prompt) }).start();

    // All seven requests are at the upstream (the Worker is busy with the other Batch) before the small Batch's are answered.
    await waitFor(() => upstream.inFlight === 7, { what: "all seven requests sent" });
    smallGo.open();
    await waitFor(async () => (await store.getBatch(small.id))?.status === "completed", { what: "the small Batch completed", timeoutMs: 10_000 });
    expect(upstream.inFlight).toBe(4);
    expect((await store.getBatch(busy.id))?.status).toBe("in_progress");
    held.open();
  });
});
