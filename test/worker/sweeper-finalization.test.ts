/**
 * The Sweeper's pass, driven by the manual clock: expiry past the completion window, finalization into
 * result files in input order, cancellation mid-run, an interrupted finalization taken over, and retention.
 */
import { Readable } from "node:stream";
import { describe, expect, it } from "vitest";
import type { Item } from "../../src/core/types.ts";
import { resultFileIds } from "../../src/worker/finalize-batch.ts";
import { chatLine } from "../helpers/batch-files.ts";
import { storeBackends, useStores } from "../helpers/store-backends.ts";
import { waitFor } from "../helpers/wait-for.ts";
import { expectCountsMatchItems } from "../store/store-fixtures.ts";
import { blobText, gate, itemsOf, LEASE_MS, useLoopFixture, type LoopFixture } from "./loop-fixture.ts";

const DAY_MS = 24 * 3600 * 1000;
const prompts = (count: number): string[] => Array.from({ length: count }, (_, i) => chatLine(`req-${i}`, `prompt ${i}`));
const statusesOf = (items: Item[]): string => items.map((item) => item.status).join();

interface ResultLine {
  id: string;
  custom_id: string;
  response: { status_code: number; body: { choices?: { message: { content: string } }[] } } | null;
  error: { code: string; message: string } | null;
}

async function resultLines(fixture: LoopFixture, fileId: string | null): Promise<ResultLine[]> {
  if (fileId === null) return [];
  const text = await blobText(fixture.blobs, fileId);
  return text.trim().split("\n").map((line) => JSON.parse(line) as ResultLine);
}

describe.each(storeBackends)("Sweeper finalization on the $name store", (backend) => {
  const stores = useStores(backend);
  const loops = useLoopFixture();

  it("expires pending Items when the clock passes expiresAtMs, and the Batch once its running Items finish", async () => {
    const fixture = await loops.create(await stores.open());
    const { store, clock, upstream, startBatch, createWorker, createSweeper } = fixture;
    const held = gate();
    upstream.setFault(() => ({ until: held.opened }));
    // A window shorter than the Lease: the running Items are not taken back when the window passes.
    const batch = await startBatch(prompts(4), { expiresInMs: LEASE_MS / 2 });
    createWorker({ concurrency: 1 }).start(); // claims two, twice its concurrency
    await waitFor(async () => statusesOf(await itemsOf(store, batch.id)) === "running,running,pending,pending", { what: "two leased items" });
    const sweeper = createSweeper();

    clock.set(batch.expiresAtMs - 1);
    await sweeper.sweep();
    expect(statusesOf(await itemsOf(store, batch.id))).toBe("running,running,pending,pending");

    clock.set(batch.expiresAtMs);
    await sweeper.sweep();
    const expiring = await itemsOf(store, batch.id);
    expect(statusesOf(expiring)).toBe("running,running,expired,expired");
    expect(expiring[2]?.result).toMatchObject({ errorCode: "batch_expired", statusCode: null, finishedAtMs: batch.expiresAtMs });
    expect(await store.getBatch(batch.id)).toMatchObject({ status: "in_progress", counts: { total: 4, expired: 2, succeeded: 0 } });

    held.open();
    await waitFor(async () => (await store.getBatch(batch.id))?.counts.succeeded === 2, { what: "the running items to finish" });
    clock.advance(1_000);
    await sweeper.sweep();
    const done = await store.getBatch(batch.id);
    expect(done).toMatchObject({ status: "expired", expiredAtMs: clock.now(), completedAtMs: null });
    expect(done?.counts).toEqual({ total: 4, succeeded: 2, failed: 0, cancelled: 0, expired: 2 });
    expect((await resultLines(fixture, done?.outputFileId ?? null)).map((line) => line.custom_id)).toEqual(["req-0", "req-1"]);
    const errors = await resultLines(fixture, done?.errorFileId ?? null);
    expect(errors.map((line) => [line.custom_id, line.error?.code])).toEqual([["req-2", "batch_expired"], ["req-3", "batch_expired"]]);
  });

  it("writes result files in input order whatever order the Items finished in, with counts and result file ids", async () => {
    const fixture = await loops.create(await stores.open());
    const { store, clock, upstream, startBatch, createWorker, createSweeper } = fixture;
    const gates = Array.from({ length: 5 }, () => gate());
    upstream.setFault(({ key }) => {
      const index = Number(key.split(" ")[1]);
      return { until: gates[index]?.opened, ...(index === 1 || index === 3 ? { status: 400 } : {}) };
    });
    const batch = await startBatch(prompts(5));
    createWorker({ concurrency: 5 }).start();
    await waitFor(() => upstream.inFlight === 5, { what: "all five requests at the upstream" });
    for (const index of [4, 3, 2, 1, 0]) {
      clock.advance(10);
      gates[index]?.open();
      await waitFor(async () => (await itemsOf(store, batch.id))[index]?.status !== "running", { what: `item ${index} to finish` });
    }
    const finishedAt = (await itemsOf(store, batch.id)).map((item) => item.result?.finishedAtMs ?? 0);
    expect(finishedAt).toEqual([...finishedAt].sort((a, b) => b - a)); // last Item first, as the gates opened

    clock.advance(1_000);
    await createSweeper().sweep();
    const ids = resultFileIds(batch.id);
    const done = await store.getBatch(batch.id);
    expect(done).toMatchObject({ status: "completed", completedAtMs: clock.now(), outputFileId: ids.output, errorFileId: ids.error });
    expect(done?.counts).toEqual({ total: 5, succeeded: 3, failed: 2, cancelled: 0, expired: 0 });
    await expectCountsMatchItems(store, batch.id);

    const output = await resultLines(fixture, ids.output);
    expect(output.map((line) => line.custom_id)).toEqual(["req-0", "req-2", "req-4"]);
    expect(output.map((line) => line.response?.body.choices?.[0]?.message.content)).toEqual(["echo: prompt 0", "echo: prompt 2", "echo: prompt 4"]);
    expect(output[1]?.id).toBe(`batch_req_${batch.id.slice("batch_".length)}_2`);
    const errors = await resultLines(fixture, ids.error);
    expect(errors.map((line) => [line.custom_id, line.response?.status_code])).toEqual([["req-1", 400], ["req-3", 400]]);

    const outputBytes = Buffer.byteLength(await blobText(fixture.blobs, ids.output));
    expect(await store.getFile(ids.output)).toMatchObject({
      purpose: "batch_output", source: "generated", bytes: outputBytes, filename: `batch_${batch.id.slice("batch_".length)}_output.jsonl`,
      createdAtMs: clock.now(), expiresAtMs: clock.now() + 30 * DAY_MS,
    });
    expect(await store.getFile(ids.error)).toMatchObject({ source: "generated", filename: `batch_${batch.id.slice("batch_".length)}_error.jsonl` });
  });

  it("takes a cancel mid-run to cancelled with the partial output once the running Items finish", async () => {
    const fixture = await loops.create(await stores.open());
    const { store, clock, upstream, startBatch, createWorker, createSweeper } = fixture;
    const held = gate();
    upstream.setFault(() => ({ until: held.opened }));
    const batch = await startBatch(prompts(4));
    // Concurrency 1 leases two Items: req-0 upstream, req-1 waiting for the slot. `finish` lets the running
    // request end once the Worker learns of the cancel (decision 0047: the cancel is taken by the Store
    // here, as by another process); the waiting one is stopped and, never sent, ends cancelled.
    createWorker({ concurrency: 1, settings: { cancelRunning: "finish" } }).start();
    await waitFor(async () => upstream.inFlight === 1 && statusesOf(await itemsOf(store, batch.id)) === "running,running,pending,pending", { what: "two leased items" });

    clock.advance(5_000);
    expect(await store.cancelBatch(batch.id, clock.now())).toMatchObject({ status: "cancelling", cancellingAtMs: clock.now() });
    await waitFor(async () => statusesOf(await itemsOf(store, batch.id)) === "running,cancelled,cancelled,cancelled", { what: "the waiting item stopped" });
    const sweeper = createSweeper();
    await sweeper.sweep();
    expect(await store.getBatch(batch.id)).toMatchObject({ status: "cancelling", outputFileId: null });

    held.open();
    await waitFor(async () => (await store.getBatch(batch.id))?.counts.succeeded === 1, { what: "the running item to finish" });
    await sweeper.sweep();
    const done = await store.getBatch(batch.id);
    expect(done).toMatchObject({ status: "cancelled", cancelledAtMs: clock.now() });
    expect(done?.counts).toEqual({ total: 4, succeeded: 1, failed: 0, cancelled: 3, expired: 0 });
    expect((await resultLines(fixture, done?.outputFileId ?? null)).map((line) => line.custom_id)).toEqual(["req-0"]);
    const errors = await resultLines(fixture, done?.errorFileId ?? null);
    expect(errors.map((line) => [line.custom_id, line.error?.code])).toEqual([["req-1", "batch_cancelled"], ["req-2", "batch_cancelled"], ["req-3", "batch_cancelled"]]);
    expect(upstream.requests).toBe(1);
  });

  it("re-takes a finalization whose process stopped once its Lease expires, replacing what that process wrote", async () => {
    const fixture = await loops.create(await stores.open());
    const { store, blobs, clock, startBatch, createWorker, createSweeper } = fixture;
    const batch = await startBatch(prompts(2));
    createWorker().start();
    await waitFor(async () => (await store.getBatch(batch.id))?.counts.succeeded === 2, { what: "both results" });

    // Another process took the finalization, wrote and registered a partial output file, then died.
    const ids = resultFileIds(batch.id);
    expect(await store.claimFinalization(batch.id, { owner: "crashed-process", nowMs: clock.now(), leaseMs: LEASE_MS })).not.toBeNull();
    const partial = await blobs.put(ids.output, Readable.from([Buffer.from('{"partial":\n')]));
    await store.createFile({
      id: ids.output, purpose: "batch_output", filename: "partial.jsonl", displayName: null, mimeType: null,
      bytes: partial.bytes, sha256: partial.sha256, source: "generated", createdAtMs: clock.now(), expiresAtMs: null,
    });

    const sweeper = createSweeper();
    clock.advance(LEASE_MS - 1);
    await sweeper.sweep();
    expect(await store.getBatch(batch.id)).toMatchObject({ status: "finalizing", outputFileId: null });

    clock.advance(1);
    await sweeper.sweep();
    const done = await store.getBatch(batch.id);
    expect(done).toMatchObject({ status: "completed", outputFileId: ids.output, errorFileId: null });
    expect((await resultLines(fixture, ids.output)).map((line) => line.custom_id)).toEqual(["req-0", "req-1"]);
    const file = await store.getFile(ids.output);
    expect(file).toMatchObject({ filename: `batch_${batch.id.slice("batch_".length)}_output.jsonl`, bytes: Buffer.byteLength(await blobText(blobs, ids.output)) });
    expect(file?.sha256).not.toBe(partial.sha256);
  });

  it("deletes Files past their expiry, the record and then the contents", async () => {
    const { store, blobs, clock, createSweeper } = await loops.create(await stores.open());
    const info = await blobs.put("file-short-lived", Readable.from([Buffer.from("bytes\n")]));
    await store.createFile({
      id: "file-short-lived", purpose: "batch", filename: "a.jsonl", displayName: null, mimeType: null,
      bytes: info.bytes, sha256: info.sha256, source: "uploaded", createdAtMs: clock.now(), expiresAtMs: clock.now() + 1_000,
    });
    const sweeper = createSweeper();
    clock.advance(999);
    await sweeper.sweep();
    expect(await store.getFile("file-short-lived")).not.toBeNull();
    clock.advance(1);
    await sweeper.sweep();
    expect(await store.getFile("file-short-lived")).toBeNull();
    expect(await blobs.size("file-short-lived")).toBeNull();
  });
});
