/**
 * A cancel taken by another process reaches this Worker's running requests by the Worker's own look at the
 * Store (src/worker/cancel-watch.ts), not only by the announcement (a work event, which is not durable and
 * which PgBouncer in transaction mode does not carry). Here no announcement is heard at all: the Stores
 * are opened without a work-event feed, as through PgBouncer.
 */
import { describe, expect, it, vi } from "vitest";
import { chatLine } from "../helpers/batch-files.ts";
import { storeBackends, useStores } from "../helpers/store-backends.ts";
import { waitFor } from "../helpers/wait-for.ts";
import { expectCountsMatchItems } from "../store/store-fixtures.ts";
import { itemsOf, useLoopFixture } from "./loop-fixture.ts";

describe.each(storeBackends)("Worker: cancels taken by another process, on the $name store", (backend) => {
  const stores = useStores(backend);
  const loops = useLoopFixture();

  it("stops its running and queued requests of a Batch cancelled through another Store connection, with no announcement heard", async () => {
    const [workerStore, apiStore] = await stores.openShared(2);
    const { clock, upstream, startBatch, createWorker } = await loops.create(workerStore!);
    upstream.setFault(() => ({ hang: true }));
    const batch = await startBatch(Array.from({ length: 6 }, (_, i) => chatLine(`req-${i}`, `prompt ${i}`)));
    const looks = vi.spyOn(workerStore!, "cancelledBatches");
    // Concurrency 2 claims four Items (twice the concurrency): two hang upstream, two wait for a slot.
    const worker = createWorker({ concurrency: 2 });
    worker.start();
    await waitFor(async () => upstream.inFlight === 2 && (await itemsOf(apiStore!, batch.id)).filter((item) => item.status === "running").length === 4, { what: "two requests hanging, four Items held" });

    // The other process's cancel: the Store's change only (its own Dispatcher holds none of these requests).
    await apiStore!.cancelBatch(batch.id, clock.now());
    await waitFor(() => upstream.inFlight === 0 && worker.activeCount === 0, { what: "the hanging requests to be stopped" });
    await waitFor(async () => (await itemsOf(apiStore!, batch.id)).every((item) => item.status !== "running"), { what: "the stopped Items to be recorded" });

    expect(looks).toHaveBeenCalledWith([batch.id]);
    const items = await itemsOf(apiStore!, batch.id);
    expect(items.map((item) => item.result?.errorCode)).toEqual(Array(6).fill("batch_cancelled"));
    // Stopped while running: failed. Never sent (waiting for a slot, or never claimed): cancelled.
    expect(items.map((item) => item.status)).toEqual(["failed", "failed", "cancelled", "cancelled", "cancelled", "cancelled"]);
    // The two queued behind the hanging ones never went upstream.
    expect(upstream.requests).toBe(2);
    expect((await apiStore!.findBatchesToFinalize(clock.now(), 10)).map((found) => found.batchId)).toContain(batch.id);
    await expectCountsMatchItems(apiStore!, batch.id);
  });
});
