/**
 * The Worker's loop against a real Store, a real ModelDispatcher and the `openai` Engine talking to the
 * in-process fake upstream: claim -> dispatch -> record, retries inside one Attempt, and graceful stop.
 * Lease expiry, fencing and maxAttempts are in worker-leases.test.ts.
 */
import { describe, expect, it } from "vitest";
import { chatLine } from "../helpers/batch-files.ts";
import { failFirstAttempts } from "../helpers/fake-openai-upstream.ts";
import { storeBackends, useStores } from "../helpers/store-backends.ts";
import { waitFor } from "../helpers/wait-for.ts";
import { expectCountsMatchItems } from "../store/store-fixtures.ts";
import { gate, itemsOf, MODEL, replyText, useLoopFixture } from "./loop-fixture.ts";
import type { Store } from "../../src/store/store.ts";

const prompts = (count: number): string[] => Array.from({ length: count }, (_, i) => chatLine(`req-${i}`, `prompt ${i}`));

/** Token counts the fake upstream reports for one user message `text` (about four characters a token). */
const fakeUsage = (text: string) => ({ inputTokens: 4 + Math.ceil(text.length / 4), outputTokens: Math.ceil(`echo: ${text}`.length / 4) });

async function finishedCount(store: Store, batchId: string, count: number): Promise<void> {
  await waitFor(async () => {
    const { counts } = (await store.getBatch(batchId)) ?? { counts: null };
    return counts !== null && counts.succeeded + counts.failed === count;
  }, { what: `${count} finished items` });
}

describe.each(storeBackends)("Worker on the $name store", (backend) => {
  const stores = useStores(backend);
  const loops = useLoopFixture();

  it("runs every Item of a Batch and records its reply and usage, with counts that match the Items", async () => {
    const { store, clock, upstream, startBatch, createWorker } = await loops.create(await stores.open());
    const batch = await startBatch(prompts(5));
    clock.advance(1_000);
    let told = 0;
    createWorker({ onResults: () => (told += 1) }).start();
    await finishedCount(store, batch.id, 5);

    const items = await itemsOf(store, batch.id);
    expect(items.map((item) => item.status)).toEqual(Array(5).fill("succeeded"));
    expect(items.map(replyText)).toEqual(items.map((_, i) => `echo: prompt ${i}`));
    for (const [i, item] of items.entries()) {
      expect(item.attempts).toBe(1);
      expect(item.result).toMatchObject({ statusCode: 200, errorCode: null, usage: fakeUsage(`prompt ${i}`), finishedAtMs: clock.now() });
      expect(item.result?.requestId).toMatch(/^req_fake_/);
    }
    const done = await store.getBatch(batch.id);
    expect(done?.counts).toEqual({ total: 5, succeeded: 5, failed: 0, cancelled: 0, expired: 0 });
    expect(done?.usage.inputTokens).toBe(items.reduce((sum, _, i) => sum + fakeUsage(`prompt ${i}`).inputTokens, 0));
    await expectCountsMatchItems(store, batch.id);
    expect(told).toBeGreaterThan(0);
    expect(upstream.lastRequest?.body.model).toBe("gpt-test");
    for (let i = 0; i < 5; i += 1) expect(upstream.countsByKey.get(`prompt ${i}`)).toBe(1);
  });

  it("claims no more than twice the Model's concurrency and leaves the rest pending", async () => {
    const { store, upstream, startBatch, createWorker } = await loops.create(await stores.open());
    const held = gate();
    upstream.setFault(() => ({ until: held.opened }));
    const batch = await startBatch(prompts(10));
    createWorker({ concurrency: 2 }).start();
    await waitFor(() => upstream.inFlight === 2, { what: "two requests at the upstream" });
    // The lane is full (2 running + 2 queued in the Dispatcher): it must not hoard more Leases.
    await waitFor(async () => (await itemsOf(store, batch.id)).filter((item) => item.status === "running").length === 4);
    const statuses = (await itemsOf(store, batch.id)).map((item) => item.status);
    expect(statuses).toEqual([...Array(4).fill("running"), ...Array(6).fill("pending")]);

    held.open();
    await finishedCount(store, batch.id, 10);
    expect(upstream.maxInFlight).toBe(2);
    await expectCountsMatchItems(store, batch.id);
  });

  it("claims ahead only for the slots Batch requests may hold while they yield to sync requests", async () => {
    const { store, upstream, startBatch, createWorker, dispatcherOf } = await loops.create(await stores.open());
    const held = gate();
    upstream.setFault(() => ({ until: held.opened }));
    // A quarter of 8 slots while sync requests are about; the manual clock keeps the yield on.
    const worker = createWorker({ concurrency: 8, syncFirst: { batchShare: 0.25, quietMs: 60_000 } });
    const sync = dispatcherOf(worker).dispatch({ model: MODEL, kind: "chat", dialect: "openai", body: { model: MODEL, messages: [{ role: "user", content: "sync" }] }, priority: "sync" });
    const batch = await startBatch(prompts(40));
    worker.start();
    await waitFor(() => upstream.inFlight === 3, { what: "the sync request and two Batch requests at the upstream" });
    const running = async (): Promise<number> => (await itemsOf(store, batch.id)).filter((item) => item.status === "running").length;
    await waitFor(async () => (await running()) === 4, { what: "twice the two Batch slots claimed" });
    // Ten polls later still four: twice the Model's 8 slots (16) would be queued in the Dispatcher.
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(await running()).toBe(4);

    held.open();
    await sync;
    await finishedCount(store, batch.id, 40);
    await expectCountsMatchItems(store, batch.id);
  });

  it("claims again as soon as enough of its Items finished, without waiting for the poll", async () => {
    const { store, startBatch, createWorker } = await loops.create(await stores.open());
    // 40 Items, at most 4 held at a time: about ten claims, each prompted by finished Items. If finishing did
    // not wake the lane's loop when it may claim, each claim would wait for the poll (a minute here).
    const batch = await startBatch(prompts(40));
    createWorker({ concurrency: 2, settings: { pollMs: 60_000 } }).start();
    await waitFor(async () => {
      const { counts } = (await store.getBatch(batch.id)) ?? { counts: null };
      return counts !== null && counts.succeeded === 40;
    }, { what: "all 40 Items to succeed well before the poll", timeoutMs: 10_000 });
  });

  it("retries a retryable upstream failure within one Attempt and records the success", async () => {
    const { store, upstream, startBatch, createWorker } = await loops.create(await stores.open());
    upstream.setFault(failFirstAttempts(2, { status: 500 }, (key) => key === "prompt 1"));
    const batch = await startBatch(prompts(3));
    createWorker({ maxRetries: 2 }).start();
    await finishedCount(store, batch.id, 3);

    const items = await itemsOf(store, batch.id);
    expect(items.map((item) => item.status)).toEqual(["succeeded", "succeeded", "succeeded"]);
    expect(upstream.countsByKey.get("prompt 1")).toBe(3);
    // Dispatcher retries are not Attempts: an Attempt is a claim, and the Item was claimed once.
    expect(items[1]?.attempts).toBe(1);
    expect(replyText(items[1]!)).toBe("echo: prompt 1");
  });

  it("records the upstream's last error once the retries are spent, and a 400 at once", async () => {
    const { store, upstream, startBatch, createWorker } = await loops.create(await stores.open());
    upstream.setFault(({ key, attemptForKey }) => {
      if (key === "prompt 0") return { status: 503, body: { error: { message: `down #${attemptForKey}`, type: "server_error", param: null, code: null } } };
      if (key === "prompt 2") return { status: 400 };
      return undefined;
    });
    const batch = await startBatch(prompts(3));
    createWorker({ maxRetries: 2 }).start();
    await finishedCount(store, batch.id, 3);

    const [down, fine, rejected] = await itemsOf(store, batch.id);
    expect(down).toMatchObject({ status: "failed", attempts: 1, result: { statusCode: 503, errorCode: null, usage: { inputTokens: 0, outputTokens: 0 } } });
    expect(JSON.parse(down?.result?.body ?? "null")).toMatchObject({ error: { message: "down #3" } });
    expect(upstream.countsByKey.get("prompt 0")).toBe(3);
    expect(fine?.status).toBe("succeeded");
    expect(rejected).toMatchObject({ status: "failed", result: { statusCode: 400 } });
    expect(upstream.countsByKey.get("prompt 2")).toBe(1);
    expect((await store.getBatch(batch.id))?.counts).toEqual({ total: 3, succeeded: 1, failed: 2, cancelled: 0, expired: 0 });
  });

  it("on stop() records what finished and returns unfinished Items to pending for the next Worker", async () => {
    const { store, upstream, startBatch, createWorker } = await loops.create(await stores.open());
    upstream.setFault(({ key }) => (key === "prompt 0" || key === "prompt 1" ? undefined : { hang: true }));
    const batch = await startBatch(prompts(6));
    // A slot for each of the six: the Worker may dispatch claimed Items in any order (it looks each Batch
    // up first), so with fewer slots the hanging requests could hold them all before prompt 0 runs.
    const first = createWorker({ concurrency: 6 });
    first.start();
    await waitFor(async () => {
      const statuses = (await itemsOf(store, batch.id)).map((item) => item.status);
      return statuses.join() === "succeeded,succeeded,running,running,running,running";
    }, { what: "two results and four leased items" });

    await first.stop(0);
    const stopped = await itemsOf(store, batch.id);
    expect(stopped.map((item) => item.status)).toEqual(["succeeded", "succeeded", "pending", "pending", "pending", "pending"]);
    // Attempts are never given back, even on a graceful release (the store's fence relies on it).
    expect(stopped.map((item) => item.attempts)).toEqual([1, 1, 1, 1, 1, 1]);
    expect(stopped.slice(2).every((item) => item.result === null)).toBe(true);
    expect(first.activeCount).toBe(0);
    expect(() => first.start()).toThrow(/cannot start again/);

    upstream.setFault(null);
    createWorker().start();
    await finishedCount(store, batch.id, 6);
    const items = await itemsOf(store, batch.id);
    expect(items.map(replyText)).toEqual(items.map((_, i) => `echo: prompt ${i}`));
    expect(items.slice(2).map((item) => item.attempts)).toEqual([2, 2, 2, 2]);
    expect(upstream.countsByKey.get("prompt 0")).toBe(1);
    await expectCountsMatchItems(store, batch.id);
  });

  it("lets running requests finish within the grace period of stop() and records them", async () => {
    const { store, upstream, startBatch, createWorker } = await loops.create(await stores.open());
    const held = gate();
    upstream.setFault(() => ({ until: held.opened }));
    const batch = await startBatch(prompts(2));
    const worker = createWorker();
    worker.start();
    await waitFor(() => upstream.inFlight === 2, { what: "both requests at the upstream" });

    const stopping = worker.stop(30_000);
    held.open();
    await stopping;
    const items = await itemsOf(store, batch.id);
    expect(items.map((item) => item.status)).toEqual(["succeeded", "succeeded"]);
    expect(items.map((item) => item.attempts)).toEqual([1, 1]);
  });
});
