/**
 * Migrations 004 (claim order and duplicate reuse) and 005 (requests apart from Items) on a database written
 * by the schema before each, with a
 * Batch in flight: one Item running under the old code's Lease, one failed, the rest pending. After the
 * upgrade the running Item's completion still passes the fence, the pending Items are claimed in input
 * order, and a retry of the failed Item runs it again.
 *
 * Items are inserted in reverse index order, so rows sit in the table (and in index ties) opposite to
 * input order: only a migration that really gives every claimable Item its place makes the order right.
 */
import { afterEach, describe, expect, it } from "vitest";
import type { Store } from "../../src/store/store.ts";
import { storeBackends } from "../helpers/store-backends.ts";
import { undoMigrationsSql } from "./previous-schemas.ts";
import { postgresDatabase, sqliteDatabase, type UpgradedDatabase } from "./upgraded-databases.ts";
import { allItems, completion, expectCountsMatchItems, LEASE_MS, MODEL, newBatch, newItems, T0 } from "./store-fixtures.ts";

const claim = (owner: string, limit: number, nowMs: number) => ({ owner, model: MODEL, limit, nowMs, leaseMs: LEASE_MS });

const opened: Store[] = [];
afterEach(async () => {
  await Promise.all(opened.splice(0).map((store) => store.close()));
});

async function upgradeWithBatchInFlight(database: UpgradedDatabase, fromMigration: number): Promise<void> {
  const before = await database.open();
  const batch = await before.createBatch(newBatch());
  await before.claimValidation({ owner: "validator", nowMs: T0, leaseMs: LEASE_MS });
  await before.insertItems(batch.id, newItems(22).reverse());
  await before.startBatch(batch.id, { owner: "validator", total: 22, model: MODEL, errors: null, nowMs: T0 + 1 });
  const [running, failing] = await before.claimItems(claim("old", 2, T0 + 2));
  expect([running?.index, failing?.index]).toEqual([0, 1]);
  await before.completeItems([completion(failing!, "old", T0 + 3, "failed")], T0 + 3);
  await before.close();
  opened.splice(opened.indexOf(before), 1);
  await database.exec(undoMigrationsSql(fromMigration, database.backend));

  const after = await database.open();
  // The running, failed and pending Items keep their input order; the finished one needs no place.
  const places = await database.exec(`SELECT idx, claim_pos FROM items WHERE status <> 'succeeded' ORDER BY idx`);
  expect(places.map((row) => Number(row.claim_pos))).toEqual(places.map((row) => Number(row.idx)));
  expect(await after.completeItems([completion(running!, "old", T0 + 4)], T0 + 4)).toBe(1);
  const rest = await after.claimItems(claim("new", 30, T0 + 5));
  expect(rest.map((item) => item.index)).toEqual(Array.from({ length: 20 }, (_, i) => i + 2));
  expect(rest.every((item) => item.prefixKey === null)).toBe(true);
  // Each request survived the move to item_requests, attached to its own Item.
  const requests = new Map(newItems(22).map((item) => [item.index, item.request]));
  expect(rest.map((item) => item.request)).toEqual(rest.map((item) => requests.get(item.index)));
  await after.completeItems(rest.map((item) => completion(item, "new", T0 + 6)), T0 + 6);
  expect(await after.findBatchesToFinalize(T0 + 7, 10)).toEqual([{ batchId: batch.id, status: "completed" }]);
  await after.claimFinalization(batch.id, { owner: "sweeper", nowMs: T0 + 7, leaseMs: LEASE_MS });
  await after.finishBatch(batch.id, "sweeper", { status: "completed", outputFileId: null, errorFileId: null, nowMs: T0 + 8 });

  const retried = await after.retryFailedItems(batch.id, T0 + 9);
  expect(retried).toMatchObject({ status: "in_progress", reusedItems: 0 });
  const again = await after.claimItems(claim("new", 10, T0 + 10));
  expect(again.map((item) => item.index)).toEqual([1]);
  await after.completeItems([completion(again[0]!, "new", T0 + 11)], T0 + 11);
  expect((await allItems(after, batch.id)).map((item) => item.status)).toEqual(Array(22).fill("succeeded"));
  await expectCountsMatchItems(after, batch.id);
}

const FROM = [4, 5];

describe.runIf(storeBackends.some((backend) => backend.name === "sqlite"))("sqlite store: upgrades (migrations 004, 005)", () => {
  it.each(FROM)("upgrades a data dir of the schema before migration %i in place; its batch in flight finishes in input order", async (from) => {
    await upgradeWithBatchInFlight(sqliteDatabase(`sqlite upgrade from ${from}`, opened), from);
  });
});

describe.runIf(storeBackends.some((backend) => backend.name === "postgres"))("postgres store: upgrades (migrations 004, 005)", () => {
  it.each(FROM)("upgrades a schema of the version before migration %i in place; its batch in flight finishes in input order", async (from) => {
    await upgradeWithBatchInFlight(await postgresDatabase(`postgres upgrade from ${from}`, opened), from);
  });
});
