/**
 * The WebhookSender's retry timing against a real Store and a real receiver. A timer can fire a little
 * before the sender's clock reaches a retry's time (timers run on a monotonic clock, the Clock on the wall
 * clock); the sender must then wait for the retry again, not forget it until the next poll. And a retry
 * that came due during a pass (a slow Store) is made in that pass; the retry after it must still be waited
 * for, not left to the poll. A Batch that ends during a pass (after its last look at the outbox) has its
 * events sent right after that pass, not at the next poll.
 */
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import pino from "pino";
import { afterEach, describe, expect, it } from "vitest";
import type { Clock } from "../../src/core/clock.ts";
import type { Store } from "../../src/store/store.ts";
import { WebhookSender } from "../../src/webhooks/webhook-sender.ts";
import { storeBackends, useStores } from "../helpers/store-backends.ts";
import { completion, LEASE_MS, MODEL, startedBatch, T0 } from "../store/store-fixtures.ts";

const SECRET = `whsec_${Buffer.from("a webhook secret of 32 bytes!!!!").toString("base64")}`;
const sqlite = storeBackends.find((backend) => backend.name === "sqlite");

/** A clock that runs at half the speed of real time: every timer fires before the clock says it is due. */
function slowClock(startMs: number): Clock {
  const realStart = performance.now();
  return { now: () => Math.floor(startMs + (performance.now() - realStart) / 2) };
}

const closers: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const close of closers.splice(0).reverse()) await close();
});

describe.runIf(sqlite)("webhook sender", () => {
  const stores = useStores(sqlite!);

  /** A receiver answering `statuses` in turn (the last one from then on), recording when each request came. */
  async function receiver(statuses: number[]): Promise<{ url: string; arrivals: { atMs: number; status: number }[] }> {
    const arrivals: { atMs: number; status: number }[] = [];
    const server = createServer((request, response) => {
      const status = statuses[Math.min(arrivals.length, statuses.length - 1)]!;
      arrivals.push({ atMs: performance.now(), status });
      request.resume();
      request.on("end", () => response.writeHead(status).end());
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    closers.push(() => new Promise((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    }));
    return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`, arrivals };
  }

  /** A Batch of one finished Item on a Store that knows `url` as its webhook endpoint (the Batch still running). */
  async function finishedItemFor(url: string): Promise<{ store: Store; batch: Awaited<ReturnType<typeof startedBatch>> }> {
    const store = await stores.open();
    await store.syncWebhookEndpoints([url], T0);
    const batch = await startedBatch(store, 1);
    const [item] = await store.claimItems({ owner: "w", model: MODEL, limit: 1, nowMs: T0 + 1, leaseMs: LEASE_MS });
    await store.completeItems([completion(item!, "w", T0 + 1)], T0 + 1);
    return { store, batch };
  }

  /** Ends the Batch: its end queues one delivery to each endpoint. */
  async function finish(store: Store, batchId: string): Promise<void> {
    await store.claimFinalization(batchId, { owner: "f", nowMs: T0 + 2, leaseMs: LEASE_MS });
    await store.finishBatch(batchId, "f", { status: "completed", outputFileId: null, errorFileId: null, nowMs: T0 + 2 });
  }

  /** A receiver answering `statuses` in turn, and a Batch whose end queued one delivery to it. */
  async function deliveryTo(statuses: number[]): Promise<{ url: string; store: Store; batchId: string; arrivals: { atMs: number; status: number }[] }> {
    const { url, arrivals } = await receiver(statuses);
    const { store, batch } = await finishedItemFor(url);
    await finish(store, batch.id);
    return { url, store, batchId: batch.id, arrivals };
  }

  async function untilDelivered(store: Store, batchId: string): Promise<void> {
    const delivered = async (): Promise<boolean> => (await store.listWebhookDeliveries({ batchId, limit: 10 })).deliveries[0]?.status === "delivered";
    const deadline = performance.now() + 10_000;
    while (!(await delivered()) && performance.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20));
  }

  it("makes a retry whose timer fired before the clock reached it, without waiting for the next poll", async () => {
    const { url, store, batchId, arrivals } = await deliveryTo([503, 204]);
    const sender = new WebhookSender({
      store, clock: slowClock(T0 + 10), logger: pino({ level: "silent" }), owner: "sender",
      webhooks: [{ url, secret: SECRET }], settings: { retryDelaysMs: [200], timeoutMs: 5_000 },
      render: () => "{}", pollMs: 60_000,
    });
    sender.start();
    closers.push(() => sender.stop());
    await untilDelivered(store, batchId);

    expect(arrivals.map((arrival) => arrival.status)).toEqual([503, 204]);
    // 200 ms of the sender's clock is 400 ms of real time; the poll, 60 s away, must not be what made it.
    expect(arrivals[1]!.atMs - arrivals[0]!.atMs).toBeGreaterThanOrEqual(390);
    expect(arrivals[1]!.atMs - arrivals[0]!.atMs).toBeLessThan(5_000);
    const { deliveries } = await store.listWebhookDeliveries({ batchId, limit: 10 });
    expect(deliveries).toEqual([expect.objectContaining({ status: "delivered", attempts: 2, lastStatusCode: 204 })]);
  });

  it("waits for the retry after one made in the same pass, not for the next poll", async () => {
    const { url, store, batchId, arrivals } = await deliveryTo([503, 503, 204]);
    // Recording an attempt takes longer than the first retry's wait, so that retry comes due, and is made,
    // in the pass that recorded the first failure.
    const slowStore = {
      claimWebhookDeliveries: store.claimWebhookDeliveries.bind(store),
      getBatch: store.getBatch.bind(store),
      recordWebhookAttempt: async (...args: Parameters<Store["recordWebhookAttempt"]>) => {
        await new Promise((resolve) => setTimeout(resolve, 150));
        return store.recordWebhookAttempt(...args);
      },
    };
    const sender = new WebhookSender({
      store: slowStore, clock: { now: () => Date.now() }, logger: pino({ level: "silent" }), owner: "sender",
      webhooks: [{ url, secret: SECRET }], settings: { retryDelaysMs: [50, 400], timeoutMs: 5_000 },
      render: () => "{}", pollMs: 60_000,
    });
    sender.start();
    closers.push(() => sender.stop());
    await untilDelivered(store, batchId);

    expect(arrivals.map((arrival) => arrival.status)).toEqual([503, 503, 204]);
    const gapMs = arrivals[2]!.atMs - arrivals[1]!.atMs;
    expect(gapMs).toBeGreaterThanOrEqual(390);
    expect(gapMs, "the third attempt waited for the poll").toBeLessThan(5_000);
  });

  it("sends the events of a Batch that ended during a pass right after it, not at the next poll", async () => {
    const { url, arrivals } = await receiver([204]);
    const { store, batch } = await finishedItemFor(url);
    let sender: WebhookSender | null = null;
    let looks = 0;
    // The first pass's look finds the outbox empty; the Batch ends (and the sender is told) before it returns.
    const racing = {
      claimWebhookDeliveries: async (...args: Parameters<Store["claimWebhookDeliveries"]>) => {
        const due = await store.claimWebhookDeliveries(...args);
        if ((looks += 1) === 1) {
          await finish(store, batch.id);
          sender!.batchEnded();
        }
        return due;
      },
      getBatch: store.getBatch.bind(store),
      recordWebhookAttempt: store.recordWebhookAttempt.bind(store),
    };
    sender = new WebhookSender({
      store: racing, clock: { now: () => Date.now() }, logger: pino({ level: "silent" }), owner: "sender",
      webhooks: [{ url, secret: SECRET }], settings: { retryDelaysMs: [50], timeoutMs: 5_000 }, render: () => "{}", pollMs: 60_000,
    });
    const startedAt = performance.now();
    sender.start();
    closers.push(() => sender!.stop());
    await untilDelivered(store, batch.id);
    expect(arrivals).toHaveLength(1);
    expect(arrivals[0]!.atMs - startedAt, "the event waited for the poll").toBeLessThan(5_000);
  });

  it("looks at the outbox when a Batch ends only if an endpoint is configured", async () => {
    const store = await stores.open();
    let passes = 0;
    const counting = {
      claimWebhookDeliveries: async (...args: Parameters<Store["claimWebhookDeliveries"]>) => {
        passes += 1;
        return store.claimWebhookDeliveries(...args);
      },
      getBatch: store.getBatch.bind(store),
      recordWebhookAttempt: store.recordWebhookAttempt.bind(store),
    };
    const passesAfterEnds = async (webhooks: { url: string; secret: string }[]): Promise<number> => {
      const sender = new WebhookSender({
        store: counting, clock: { now: () => Date.now() }, logger: pino({ level: "silent" }), owner: "sender",
        webhooks, settings: { retryDelaysMs: [50], timeoutMs: 5_000 }, render: () => "{}", pollMs: 60_000,
      });
      sender.start();
      await new Promise((resolve) => setTimeout(resolve, 50));
      const before = passes;
      for (let end = 0; end < 3; end += 1) {
        sender.batchEnded();
        await new Promise((resolve) => setTimeout(resolve, 30));
      }
      await sender.stop();
      return passes - before;
    };
    expect(await passesAfterEnds([])).toBe(0);
    expect(await passesAfterEnds([{ url: "http://127.0.0.1:9/hook", secret: SECRET }])).toBeGreaterThanOrEqual(3);
  });
});
