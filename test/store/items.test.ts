import { describe, expect, it } from "vitest";
import { cancelledResult } from "../../src/core/batch-format.ts";
import { storeBackends, useStores } from "../helpers/store-backends.ts";
import { allItems, completion, errorResult, expectCountsMatchItems, LEASE_MS, MODEL, okResult, startedBatch, T0 } from "./store-fixtures.ts";

const claim = (owner: string, limit: number, nowMs: number, model = MODEL) => ({ owner, model, limit, nowMs, leaseMs: LEASE_MS });

describe.each(storeBackends)("$name store: items", (backend) => {
  const stores = useStores(backend);

  describe("claimItems", () => {
    it("hands each claimed Item its Batch's dialect, so the Worker never looks the Batch up", async () => {
      const store = await stores.open();
      const openai = await startedBatch(store, 1);
      const gemini = await startedBatch(store, 1, { createdAtMs: T0 + 1, batch: { dialect: "gemini", endpoint: "batchGenerateContent" } });
      const claimed = await store.claimItems(claim("w1", 10, T0 + 10));
      expect(claimed.map((item) => [item.batchId, item.dialect])).toEqual([
        [openai.id, "openai"],
        [gemini.id, "gemini"],
      ]);
    });

    it("claims the oldest batch first, in input order, counting the attempt and returning the request", async () => {
      const store = await stores.open();
      const older = await startedBatch(store, 3);
      const newer = await startedBatch(store, 3, { createdAtMs: T0 + 1 });
      const first = await store.claimItems(claim("w1", 4, T0 + 10));
      expect(first.map((item) => [item.batchId, item.index])).toEqual([
        [older.id, 0],
        [older.id, 1],
        [older.id, 2],
        [newer.id, 0],
      ]);
      expect(first[0]).toMatchObject({ status: "running", attempts: 1, attempt: 1, clientId: "req-0", model: MODEL, kind: "chat", result: null });
      expect(JSON.parse(first[0]!.request)).toEqual({ messages: [{ role: "user", content: "hello 0" }] });
      const rest = await store.claimItems(claim("w1", 10, T0 + 11));
      expect(rest.map((item) => [item.batchId, item.index])).toEqual([
        [newer.id, 1],
        [newer.id, 2],
      ]);
      expect(await store.claimItems(claim("w1", 10, T0 + 12))).toEqual([]);
    });

    it("claims only items of the asked model", async () => {
      const store = await stores.open();
      const a = await startedBatch(store, 2, { model: "model-a" });
      await startedBatch(store, 2, { model: "model-b" });
      const claimed = await store.claimItems(claim("w1", 10, T0 + 10, "model-a"));
      expect(claimed.map((item) => [item.batchId, item.model])).toEqual([
        [a.id, "model-a"],
        [a.id, "model-a"],
      ]);
    });

    it("never hands the same item to two workers claiming at the same time from separate connections", async () => {
      const [storeA, storeB] = await stores.openShared(2);
      const batch = await startedBatch(storeA!, 500);
      const claimedBy = new Map<number, string>();
      const loop = async (store: typeof storeA, owner: string): Promise<void> => {
        for (;;) {
          const items = await store!.claimItems(claim(owner, 7, T0 + 10));
          if (items.length === 0) return;
          for (const item of items) {
            expect(claimedBy.has(item.index)).toBe(false);
            claimedBy.set(item.index, owner);
          }
        }
      };
      await Promise.all([loop(storeA, "w1"), loop(storeB, "w2"), loop(storeA, "w3"), loop(storeB, "w4")]);
      expect(claimedBy.size).toBe(500);
      expect(new Set(claimedBy.values()).size).toBeGreaterThan(1);
      expect((await allItems(storeA!, batch.id)).every((item) => item.status === "running" && item.attempts === 1)).toBe(true);
    });

    it("returns nothing for a zero limit", async () => {
      const store = await stores.open();
      await startedBatch(store, 2);
      expect(await store.claimItems(claim("w1", 0, T0))).toEqual([]);
    });
  });

  describe("completeItems", () => {
    it("records results and moves counts and usage in the same step", async () => {
      const store = await stores.open();
      const batch = await startedBatch(store, 3);
      const items = await store.claimItems(claim("w1", 3, T0 + 10));
      const applied = await store.completeItems([completion(items[0]!, "w1", T0 + 20), completion(items[1]!, "w1", T0 + 20, "failed")], T0 + 21);
      expect(applied).toBe(2);
      const after = await store.getBatch(batch.id);
      expect(after?.counts).toEqual({ total: 3, succeeded: 1, failed: 1, cancelled: 0, expired: 0 });
      expect(after?.usage).toEqual({ inputTokens: 3, outputTokens: 5 });
      expect(after?.updatedAtMs).toBe(T0 + 21);
      const stored = await allItems(store, batch.id);
      expect(stored[0]).toMatchObject({ status: "succeeded", result: okResult(T0 + 20) });
      expect(stored[1]).toMatchObject({ status: "failed", result: errorResult(T0 + 20) });
      expect(stored[2]?.status).toBe("running");
      await expectCountsMatchItems(store, batch.id);
    });

    it("records a request its Batch's cancel stopped before it was sent as cancelled, counted with the cancelled", async () => {
      const store = await stores.open();
      const batch = await startedBatch(store, 3);
      const items = await store.claimItems(claim("w1", 2, T0 + 10));
      await store.cancelBatch(batch.id, T0 + 15);
      const stopped = { ...completion(items[0]!, "w1", T0 + 20), status: "cancelled" as const, result: cancelledResult(T0 + 20) };
      expect(await store.completeItems([stopped, completion(items[1]!, "w1", T0 + 20)], T0 + 21)).toBe(2);
      expect((await store.getBatch(batch.id))?.counts).toEqual({ total: 3, succeeded: 1, failed: 0, cancelled: 2, expired: 0 });
      expect((await allItems(store, batch.id)).map((item) => [item.status, item.result?.errorCode])).toEqual([["cancelled", "batch_cancelled"], ["succeeded", null], ["cancelled", "batch_cancelled"]]);
      expect(await store.findBatchesToFinalize(T0 + 22, 10)).toEqual([{ batchId: batch.id, status: "cancelled" }]);
      await expectCountsMatchItems(store, batch.id);
    });

    it("adds the charges of Items run on a priced backend to the Batch's, and only of applied completions", async () => {
      const store = await stores.open();
      const batch = await startedBatch(store, 3);
      const items = await store.claimItems(claim("w1", 3, T0 + 10));
      const charged = (item: (typeof items)[number], batchNanoUsd: number, listNanoUsd: number) => {
        const done = completion(item, "w1", T0 + 20);
        return { ...done, result: { ...done.result, charge: { batchNanoUsd, listNanoUsd } } };
      };
      expect(await store.completeItems([charged(items[0]!, 1_500, 3_000), charged(items[1]!, 9_000_000_000_001, 9_000_000_000_001)], T0 + 21)).toBe(2);
      // A repeat of an applied completion is fenced off: its charge is not added twice.
      expect(await store.completeItems([charged(items[0]!, 1_500, 3_000)], T0 + 22)).toBe(0);
      expect((await store.getBatch(batch.id))?.charges).toEqual({ batchNanoUsd: 9_000_000_001_501, listNanoUsd: 9_000_000_003_001 });
    });

    it("ignores a completion from a stale owner or attempt and leaves the counts alone", async () => {
      const store = await stores.open();
      const batch = await startedBatch(store, 1);
      const [first] = await store.claimItems(claim("w1", 1, T0 + 10));
      expect(await store.reclaimExpiredItems(T0 + 10 + LEASE_MS)).toBe(1);
      const [second] = await store.claimItems(claim("w2", 1, T0 + 10 + LEASE_MS));
      expect(second?.attempt).toBe(2);

      expect(await store.completeItems([completion(first!, "w1", T0 + 50_000)], T0 + 50_000)).toBe(0);
      expect(await store.completeItems([completion({ ...second!, attempt: 1 }, "w2", T0 + 50_000)], T0 + 50_000)).toBe(0);
      expect(await store.completeItems([completion(second!, "w1", T0 + 50_000)], T0 + 50_000)).toBe(0);
      expect((await store.getBatch(batch.id))?.counts.succeeded).toBe(0);

      expect(await store.completeItems([completion(second!, "w2", T0 + 50_001, "failed")], T0 + 50_001)).toBe(1);
      // A second, duplicate completion of the same attempt is ignored too.
      expect(await store.completeItems([completion(second!, "w2", T0 + 50_002)], T0 + 50_002)).toBe(0);
      const [item] = await allItems(store, batch.id);
      expect(item).toMatchObject({ status: "failed", attempts: 2, result: errorResult(T0 + 50_001) });
      await expectCountsMatchItems(store, batch.id);
    });

    it("applies the valid completions of a mixed array and counts only those", async () => {
      const store = await stores.open();
      const batch = await startedBatch(store, 3);
      const items = await store.claimItems(claim("w1", 3, T0 + 10));
      const applied = await store.completeItems(
        [completion(items[0]!, "w1", T0 + 20), completion(items[1]!, "intruder", T0 + 20), completion(items[2]!, "w1", T0 + 20)],
        T0 + 20,
      );
      expect(applied).toBe(2);
      expect((await store.getBatch(batch.id))?.counts.succeeded).toBe(2);
    });
  });

  describe("leases", () => {
    it("reclaims only items whose lease expired, and the next claim counts another attempt", async () => {
      const store = await stores.open();
      const batch = await startedBatch(store, 2);
      await store.claimItems(claim("w1", 1, T0 + 10));
      await store.claimItems(claim("w2", 1, T0 + 20));
      expect(await store.reclaimExpiredItems(T0 + 10 + LEASE_MS - 1)).toBe(0);
      expect(await store.reclaimExpiredItems(T0 + 10 + LEASE_MS)).toBe(1);
      const items = await allItems(store, batch.id);
      expect(items.map((item) => item.status)).toEqual(["pending", "running"]);
      const [again] = await store.claimItems(claim("w3", 5, T0 + 10 + LEASE_MS));
      expect(again).toMatchObject({ index: 0, attempt: 2 });
    });

    it("renewal keeps an owner's items from being reclaimed", async () => {
      const store = await stores.open();
      await startedBatch(store, 3);
      await store.claimItems(claim("w1", 2, T0 + 10));
      await store.claimItems(claim("w2", 1, T0 + 10));
      expect(await store.renewItemLeases("w1", T0 + 20_000, LEASE_MS)).toBe(2);
      expect(await store.reclaimExpiredItems(T0 + 10 + LEASE_MS)).toBe(1);
      expect(await store.reclaimExpiredItems(T0 + 20_000 + LEASE_MS)).toBe(2);
      expect(await store.renewItemLeases("w1", T0 + 60_000, LEASE_MS)).toBe(0);
    });

    it("renewal of listed items renews only those, so an item the worker does not know it holds expires", async () => {
      const store = await stores.open();
      const batch = await startedBatch(store, 3);
      const claimed = await store.claimItems(claim("w1", 3, T0 + 10));
      const known = claimed.slice(0, 2).map((item) => ({ batchId: item.batchId, index: item.index }));
      expect(await store.renewItemLeases("w1", T0 + 20_000, LEASE_MS, known)).toBe(2);
      expect(await store.renewItemLeases("w2", T0 + 20_000, LEASE_MS, known)).toBe(0);
      expect(await store.renewItemLeases("w1", T0 + 20_000, LEASE_MS, [])).toBe(0);
      expect(await store.reclaimExpiredItems(T0 + 10 + LEASE_MS)).toBe(1);
      expect((await allItems(store, batch.id)).map((item) => item.status)).toEqual(["running", "running", "pending"]);
    });

    it("release returns an owner's running items to pending, all or those listed", async () => {
      const store = await stores.open();
      const batch = await startedBatch(store, 4);
      await store.claimItems(claim("w1", 3, T0 + 10));
      await store.claimItems(claim("w2", 1, T0 + 10));
      expect(await store.releaseItems("w1", [{ batchId: batch.id, index: 1 }, { batchId: batch.id, index: 3 }])).toBe(1);
      expect((await allItems(store, batch.id)).map((item) => item.status)).toEqual(["running", "pending", "running", "running"]);
      expect(await store.releaseItems("w1")).toBe(2);
      expect((await allItems(store, batch.id)).map((item) => item.status)).toEqual(["pending", "pending", "pending", "running"]);
      const next = await store.claimItems(claim("w3", 1, T0 + 20));
      expect(next[0]).toMatchObject({ index: 0, attempt: 2 });
    });

    it("items of a cancelling batch that lose their worker end cancelled, not pending", async () => {
      const store = await stores.open();
      const batch = await startedBatch(store, 3);
      await store.claimItems(claim("w1", 2, T0 + 10));
      await store.cancelBatch(batch.id, T0 + 20);
      expect(await store.releaseItems("w1", [{ batchId: batch.id, index: 0 }])).toBe(1);
      expect(await store.reclaimExpiredItems(T0 + 10 + LEASE_MS)).toBe(2);
      const items = await allItems(store, batch.id);
      expect(items.map((item) => item.status)).toEqual(["cancelled", "cancelled", "cancelled"]);
      expect(await store.claimItems(claim("w2", 10, T0 + 10 + LEASE_MS))).toEqual([]);
      await expectCountsMatchItems(store, batch.id);
      expect(await store.findBatchesToFinalize(T0 + 10 + LEASE_MS, 10)).toEqual([{ batchId: batch.id, status: "cancelled" }]);
    });

    it("fails items that lost their lease after the last allowed attempt, and only those", async () => {
      const store = await stores.open();
      const batch = await startedBatch(store, 2);
      let now = T0 + 10;
      await store.claimItems(claim("w1", 1, now)); // item 0, attempt 1
      now += LEASE_MS;
      await store.reclaimExpiredItems(now);
      await store.claimItems(claim("w1", 2, now)); // item 0 attempt 2, item 1 attempt 1
      now += LEASE_MS;
      const crashed = { ...errorResult(now, "item_crashed"), statusCode: null };
      expect(await store.failExhaustedItems(2, now, crashed)).toBe(1);
      expect(await store.reclaimExpiredItems(now)).toBe(1);
      const items = await allItems(store, batch.id);
      expect(items[0]).toMatchObject({ status: "failed", attempts: 2, result: crashed });
      expect(items[1]).toMatchObject({ status: "pending", attempts: 1 });
      await expectCountsMatchItems(store, batch.id);
    });
  });

  describe("readItems", () => {
    it("pages through items by index with a status filter", async () => {
      const store = await stores.open();
      const batch = await startedBatch(store, 5);
      const claimed = await store.claimItems(claim("w1", 5, T0 + 10));
      await store.completeItems(
        claimed.map((item) => completion(item, "w1", T0 + 20, item.index % 2 === 0 ? "succeeded" : "failed")),
        T0 + 20,
      );
      const first = await store.readItems(batch.id, { afterIndex: -1, limit: 2 });
      expect(first.items.map((item) => item.index)).toEqual([0, 1]);
      expect(first.nextAfterIndex).toBe(1);
      const second = await store.readItems(batch.id, { afterIndex: 1, limit: 2 });
      expect(second.items.map((item) => item.index)).toEqual([2, 3]);
      const last = await store.readItems(batch.id, { afterIndex: 3, limit: 2 });
      expect(last.items.map((item) => item.index)).toEqual([4]);
      expect(last.nextAfterIndex).toBeNull();
      const exact = await store.readItems(batch.id, { afterIndex: 2, limit: 2 });
      expect(exact.nextAfterIndex).toBeNull();

      const failed = await store.readItems(batch.id, { afterIndex: -1, limit: 10, statuses: ["failed"] });
      expect(failed.items.map((item) => item.index)).toEqual([1, 3]);
      const both = await store.readItems(batch.id, { afterIndex: 0, limit: 1, statuses: ["failed", "succeeded"] });
      expect(both.items.map((item) => item.index)).toEqual([1]);
      expect(both.nextAfterIndex).toBe(1);
      expect((await store.readItems("batch_missing", { afterIndex: -1, limit: 10 })).items).toEqual([]);
    });
  });
});
