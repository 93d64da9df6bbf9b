/**
 * The webhook outbox on every Store backend: a Batch reaching a final status queues one delivery per active
 * endpoint in the same transaction (whatever path ended it), deliveries are claimed under a Lease, fenced,
 * retried at the time given, and listed as the delivery log.
 */
import { describe, expect, it } from "vitest";
import type { Store } from "../../src/store/store.ts";
import { storeBackends, useStores } from "../helpers/store-backends.ts";
import { completion, LEASE_MS, MODEL, newBatch, newItems, startedBatch, T0 } from "./store-fixtures.ts";

const HOOK_A = "http://127.0.0.1:9/a";
const HOOK_B = "http://127.0.0.1:9/b";
const claimAt = (owner: string, nowMs: number, limit = 10) => ({ owner, nowMs, leaseMs: LEASE_MS, limit });

/** Runs a started Batch's Items and finalizes it as completed at `nowMs`. */
async function completeBatch(store: Store, batchId: string, nowMs: number): Promise<void> {
  const items = await store.claimItems({ owner: "w", model: MODEL, limit: 100, nowMs, leaseMs: LEASE_MS });
  await store.completeItems(items.map((item) => completion(item, "w", nowMs)), nowMs);
  await store.claimFinalization(batchId, { owner: "f", nowMs, leaseMs: LEASE_MS });
  await store.finishBatch(batchId, "f", { status: "completed", outputFileId: null, errorFileId: null, nowMs });
}

describe.each(storeBackends)("$name store: webhook outbox", (backend) => {
  const stores = useStores(backend);

  it("queues one delivery per active endpoint when a batch completes, dated by the transition", async () => {
    const store = await stores.open();
    await store.syncWebhookEndpoints([HOOK_A, HOOK_B], T0);
    const batch = await startedBatch(store, 2);
    expect((await store.listWebhookDeliveries({ limit: 10 })).deliveries).toEqual([]);
    await completeBatch(store, batch.id, T0 + 50);

    const { deliveries } = await store.listWebhookDeliveries({ batchId: batch.id, limit: 10 });
    expect(deliveries.map((d) => d.endpointUrl).sort()).toEqual([HOOK_A, HOOK_B]);
    for (const delivery of deliveries) {
      expect(delivery).toMatchObject({ batchId: batch.id, event: "completed", status: "pending", attempts: 0, createdAtMs: T0 + 50, nextAttemptAtMs: T0 + 50 });
      expect(delivery.id).toMatch(/^evt_[0-9a-f]{24,}$/);
    }
    expect(new Set(deliveries.map((d) => d.id)).size).toBe(2);
  });

  it("queues failed, cancelled and expired events too, and none for non-final changes or inactive endpoints", async () => {
    const store = await stores.open();
    await store.syncWebhookEndpoints([HOOK_A, HOOK_B], T0);
    await store.syncWebhookEndpoints([HOOK_A], T0 + 1);

    const invalid = await store.createBatch(newBatch());
    await store.claimValidation({ owner: "v", nowMs: T0 + 2, leaseMs: LEASE_MS });
    await store.failBatch(invalid.id, { owner: "v", errors: [{ line: 1, code: "bad", message: "bad", param: null }], nowMs: T0 + 3 });

    const cancelled = await startedBatch(store, 1, { createdAtMs: T0 + 4 });
    await store.cancelBatch(cancelled.id, T0 + 5);
    expect((await store.listWebhookDeliveries({ batchId: cancelled.id, limit: 10 })).deliveries).toEqual([]);
    await store.claimFinalization(cancelled.id, { owner: "f", nowMs: T0 + 6, leaseMs: LEASE_MS });
    await store.finishBatch(cancelled.id, "f", { status: "cancelled", outputFileId: null, errorFileId: null, nowMs: T0 + 7 });

    const expired = await startedBatch(store, 1, { createdAtMs: T0 + 8, expiresAtMs: T0 + 9 });
    await store.expireBatches(T0 + 10, { statusCode: null, body: null, errorCode: "batch_expired", errorMessage: "x", requestId: null, usage: { inputTokens: 0, outputTokens: 0 }, finishedAtMs: T0 + 10 });
    await store.claimFinalization(expired.id, { owner: "f", nowMs: T0 + 11, leaseMs: LEASE_MS });
    await store.finishBatch(expired.id, "f", { status: "expired", outputFileId: null, errorFileId: null, nowMs: T0 + 12 });

    const log = (await store.listWebhookDeliveries({ limit: 10 })).deliveries;
    expect(log.map((d) => [d.batchId, d.event, d.endpointUrl, d.createdAtMs])).toEqual([
      [expired.id, "expired", HOOK_A, T0 + 12],
      [cancelled.id, "cancelled", HOOK_A, T0 + 7],
      [invalid.id, "failed", HOOK_A, T0 + 3],
    ]);
  });

  it("hands a due delivery to one claimer, fences its outcome, and retries it at the time given", async () => {
    const [first, second] = await stores.openShared(2);
    await first!.syncWebhookEndpoints([HOOK_A], T0);
    const batch = await startedBatch(first!, 1);
    await completeBatch(first!, batch.id, T0 + 10);

    expect(await first!.claimWebhookDeliveries(claimAt("p1", T0 + 9))).toEqual([]);
    const [claimed] = await first!.claimWebhookDeliveries(claimAt("p1", T0 + 10));
    expect(claimed).toMatchObject({ batchId: batch.id, attempts: 1, status: "pending" });
    expect(await second!.claimWebhookDeliveries(claimAt("p2", T0 + 11))).toEqual([]);
    expect(await second!.recordWebhookAttempt(claimed!.id, "p2", { delivered: true, statusCode: 200, nowMs: T0 + 12 })).toBe(false);

    expect(await first!.recordWebhookAttempt(claimed!.id, "p1", { delivered: false, statusCode: 503, error: "HTTP 503", retryAtMs: T0 + 5_000, nowMs: T0 + 12 })).toBe(true);
    expect(await second!.claimWebhookDeliveries(claimAt("p2", T0 + 4_999))).toEqual([]);
    const [again] = await second!.claimWebhookDeliveries(claimAt("p2", T0 + 5_000));
    expect(again).toMatchObject({ id: claimed!.id, attempts: 2, lastStatusCode: 503, lastError: "HTTP 503", lastAttemptAtMs: T0 + 12 });
    expect(await second!.recordWebhookAttempt(again!.id, "p2", { delivered: true, statusCode: 204, nowMs: T0 + 5_001 })).toBe(true);

    const [logged] = (await first!.listWebhookDeliveries({ batchId: batch.id, limit: 5 })).deliveries;
    expect(logged).toMatchObject({ status: "delivered", attempts: 2, lastStatusCode: 204, lastError: null, deliveredAtMs: T0 + 5_001 });
    expect(await first!.claimWebhookDeliveries(claimAt("p1", T0 + 100_000))).toEqual([]);
  });

  it("returns a delivery whose sender died once its lease expires, and fails it when no retry is left", async () => {
    const store = await stores.open();
    await store.syncWebhookEndpoints([HOOK_A], T0);
    const batch = await startedBatch(store, 1);
    await completeBatch(store, batch.id, T0 + 10);
    const [lost] = await store.claimWebhookDeliveries(claimAt("dead", T0 + 10));
    expect(await store.claimWebhookDeliveries(claimAt("p2", T0 + 10 + LEASE_MS - 1))).toEqual([]);
    const [taken] = await store.claimWebhookDeliveries(claimAt("p2", T0 + 10 + LEASE_MS));
    expect(taken).toMatchObject({ id: lost!.id, attempts: 2 });
    await store.recordWebhookAttempt(taken!.id, "p2", { delivered: false, statusCode: null, error: "connection refused", retryAtMs: null, nowMs: T0 + 10 + LEASE_MS });
    const [logged] = (await store.listWebhookDeliveries({ limit: 5 })).deliveries;
    expect(logged).toMatchObject({ status: "failed", lastStatusCode: null, lastError: "connection refused", deliveredAtMs: null });
    expect(await store.claimWebhookDeliveries(claimAt("p3", T0 + 100 * LEASE_MS))).toEqual([]);
  });

  it("pages the delivery log newest first", async () => {
    const store = await stores.open();
    await store.syncWebhookEndpoints([HOOK_A], T0);
    const ids: string[] = [];
    for (let i = 0; i < 3; i += 1) {
      const batch = await startedBatch(store, 1, { createdAtMs: T0 + i * 100 });
      await completeBatch(store, batch.id, T0 + i * 100 + 50);
      ids.push(batch.id);
    }
    const first = await store.listWebhookDeliveries({ limit: 2 });
    expect(first.hasMore).toBe(true);
    const second = await store.listWebhookDeliveries({ limit: 2, beforeSeq: first.deliveries.at(-1)!.seq });
    expect(second.hasMore).toBe(false);
    expect([...first.deliveries, ...second.deliveries].map((d) => d.batchId)).toEqual([...ids].reverse());
  });

  it("queues again when a retried batch completes a second time", async () => {
    const store = await stores.open();
    await store.syncWebhookEndpoints([HOOK_A], T0);
    const batch = await store.createBatch(newBatch());
    await store.claimValidation({ owner: "v", nowMs: T0, leaseMs: LEASE_MS });
    await store.insertItems(batch.id, newItems(1));
    await store.startBatch(batch.id, { owner: "v", total: 1, model: MODEL, errors: null, nowMs: T0 + 1 });
    const [item] = await store.claimItems({ owner: "w", model: MODEL, limit: 1, nowMs: T0 + 2, leaseMs: LEASE_MS });
    await store.completeItems([completion(item!, "w", T0 + 3, "failed")], T0 + 3);
    await store.claimFinalization(batch.id, { owner: "f", nowMs: T0 + 4, leaseMs: LEASE_MS });
    await store.finishBatch(batch.id, "f", { status: "completed", outputFileId: null, errorFileId: null, nowMs: T0 + 5 });
    await store.retryFailedItems(batch.id, T0 + 6);
    await completeBatch(store, batch.id, T0 + 7);
    const log = (await store.listWebhookDeliveries({ batchId: batch.id, limit: 5 })).deliveries;
    expect(log.map((d) => [d.event, d.createdAtMs])).toEqual([
      ["completed", T0 + 7],
      ["completed", T0 + 5],
    ]);
  });
});
