/**
 * Leases across Workers, driven by the manual clock: an expired Lease returns the work, another Worker
 * (another Store connection, as another process) finishes it, and the first Worker's late reply is fenced
 * out; the heartbeat keeps a long request's Lease; an Item that loses its Lease on its last allowed
 * Attempt fails instead of looping.
 */
import { describe, expect, it, vi } from "vitest";
import type { Item } from "../../src/core/types.ts";
import { resultFileIds } from "../../src/worker/finalize-batch.ts";
import { chatLine } from "../helpers/batch-files.ts";
import { storeBackends, useStores } from "../helpers/store-backends.ts";
import { waitFor } from "../helpers/wait-for.ts";
import { expectCountsMatchItems } from "../store/store-fixtures.ts";
import { blobText, gate, itemsOf, LEASE_MS, replyText, useLoopFixture } from "./loop-fixture.ts";

const prompts = (count: number): string[] => Array.from({ length: count }, (_, i) => chatLine(`req-${i}`, `prompt ${i}`));
const statusesOf = (items: Item[]): string => items.map((item) => item.status).join();

describe.each(storeBackends)("Worker Leases on the $name store", (backend) => {
  const stores = useStores(backend);
  const loops = useLoopFixture();

  it("returns leased work to pending when the lease expires; another Worker completes it and the first Worker's late reply is fenced out", async () => {
    const [firstStore, secondStore] = await stores.openShared(2);
    const { clock, upstream, startBatch, createWorker, createSweeper } = await loops.create(firstStore!);
    const held = gate();
    upstream.setFault(({ headers }) => (headers["x-test-worker"] === "first" ? { until: held.opened } : undefined));
    const batch = await startBatch(prompts(4));
    const recordedByFirst = vi.spyOn(firstStore!, "completeItems");

    // Concurrency 2 claims all four Items (twice the concurrency) and then stops claiming: the first
    // Worker behaves like a paused process that still holds its requests.
    const first = createWorker({ owner: "first", concurrency: 2, headers: { "x-test-worker": "first" } });
    first.start();
    await waitFor(async () => upstream.inFlight === 2 && statusesOf(await itemsOf(firstStore!, batch.id)) === "running,running,running,running", { what: "four items leased by the first worker" });

    clock.advance(LEASE_MS + 1);
    await createSweeper({ store: secondStore }).sweep();
    const returned = await itemsOf(secondStore!, batch.id);
    expect(statusesOf(returned)).toBe("pending,pending,pending,pending");
    expect(returned.map((item) => item.attempts)).toEqual([1, 1, 1, 1]);

    createWorker({ owner: "second", store: secondStore }).start();
    await waitFor(async () => (await secondStore!.getBatch(batch.id))?.counts.succeeded === 4, { what: "the second worker to finish" });
    const finished = await itemsOf(secondStore!, batch.id);
    expect(finished.map((item) => item.attempts)).toEqual([2, 2, 2, 2]);

    held.open();
    await waitFor(() => first.activeCount === 0 && upstream.inFlight === 0, { what: "the first worker's late replies" });
    await first.stop(0);
    const late = recordedByFirst.mock.calls.flatMap(([completions]) => completions);
    expect(late.map((completion) => completion.index).sort()).toEqual([0, 1, 2, 3]);
    expect(await Promise.all(recordedByFirst.mock.results.map((result) => result.value))).toEqual(recordedByFirst.mock.calls.map(() => 0));

    // Exactly one result per Item: the second Worker's, untouched by the late completions.
    expect(await itemsOf(secondStore!, batch.id)).toEqual(finished);
    expect(finished.map(replyText)).toEqual(finished.map((_, i) => `echo: prompt ${i}`));
    expect((await secondStore!.getBatch(batch.id))?.counts).toEqual({ total: 4, succeeded: 4, failed: 0, cancelled: 0, expired: 0 });
    await expectCountsMatchItems(secondStore!, batch.id);
    for (let i = 0; i < 4; i += 1) expect(upstream.countsByKey.get(`prompt ${i}`)).toBe(2);
  });

  it("keeps a long request's Lease alive by heartbeat, so the Sweeper leaves it running", async () => {
    const { store, clock, upstream, startBatch, createWorker, createSweeper } = await loops.create(await stores.open());
    upstream.setFault(() => ({ hang: true }));
    const batch = await startBatch(prompts(1));
    const renewals = vi.spyOn(store, "renewItemLeases");
    // A 150 ms Lease makes the heartbeat beat every 50 ms of real time.
    createWorker({ settings: { leaseMs: 150 } }).start();
    await waitFor(async () => statusesOf(await itemsOf(store, batch.id)) === "running", { what: "the item to be leased" });

    const claimedAt = clock.now();
    clock.advance(100);
    await waitFor(() => renewals.mock.calls.some(([, nowMs]) => nowMs === claimedAt + 100), { what: "a heartbeat after the clock moved" });
    await Promise.all(renewals.mock.results.map((result) => result.value));
    clock.advance(100); // past the first Lease (claimedAt + 150), within the renewed one
    await createSweeper({ settings: { leaseMs: 150 } }).sweep();
    const [item] = await itemsOf(store, batch.id);
    expect(item).toMatchObject({ status: "running", attempts: 1, result: null });
  });

  it("fails an Item whose Lease expired on its last allowed Attempt, and finalizes the Batch with that error", async () => {
    const { store, blobs, clock, upstream, startBatch, createWorker, createSweeper } = await loops.create(await stores.open());
    upstream.setFault(() => ({ hang: true }));
    const settings = { maxAttempts: 2 };
    const batch = await startBatch(prompts(1));
    // Concurrency 1 claims up to two Items: room to claim the same Item again while the first request hangs.
    createWorker({ concurrency: 1, settings }).start();
    const sweeper = createSweeper({ settings });
    await waitFor(async () => (await itemsOf(store, batch.id))[0]?.attempts === 1, { what: "the first attempt" });

    clock.advance(LEASE_MS + 1);
    await sweeper.sweep();
    await waitFor(async () => {
      const [item] = await itemsOf(store, batch.id);
      return item?.status === "running" && item.attempts === 2;
    }, { what: "the second attempt" });

    clock.advance(LEASE_MS + 1);
    await sweeper.sweep();
    const [item] = await itemsOf(store, batch.id);
    expect(item).toMatchObject({ status: "failed", attempts: 2, result: { statusCode: null, errorCode: "item_crashed", finishedAtMs: clock.now() } });
    expect(item?.result?.errorMessage).toContain("claimed 2 times");

    const done = await store.getBatch(batch.id);
    expect(done).toMatchObject({ status: "completed", outputFileId: null, errorFileId: resultFileIds(batch.id).error });
    expect(done?.counts).toEqual({ total: 1, succeeded: 0, failed: 1, cancelled: 0, expired: 0 });
    const [line] = (await blobText(blobs, resultFileIds(batch.id).error)).trim().split("\n");
    expect(JSON.parse(line ?? "null")).toMatchObject({ custom_id: "req-0", response: null, error: { code: "item_crashed" } });
  });
});
