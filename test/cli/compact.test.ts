/**
 * `spool compact` as an operator runs it (a real process on a data dir's SQLite store): after retention has
 * purged a large Batch's Items, it gives their space back and every row still there reads as before; it
 * refuses, changing nothing, while another process has the store open, when there is no store, and on
 * PostgreSQL.
 */
import { copyFileSync, statSync } from "node:fs";
import path from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { openSqliteStore } from "../../src/store/sqlite/index.ts";
import type { Store } from "../../src/store/store.ts";
import { makeDataDir } from "../helpers/spool-app.ts";
import { runSpoolCli } from "../helpers/spool-cli.ts";
import { mountTinyFilesystem, tinyFilesystemUnavailableReason } from "../helpers/tiny-filesystem.ts";
import { allItems, DAY_MS, LEASE_MS, MODEL, okResult, startedBatch, T0 } from "../store/store-fixtures.ts";

const noTmpfs = tinyFilesystemUnavailableReason();
const open: Store[] = [];
afterEach(async () => {
  await Promise.all(open.splice(0).map((store) => store.close()));
});

async function openStore(dataDir: string): Promise<Store> {
  const store = await openSqliteStore(path.join(dataDir, "spool.sqlite"));
  open.push(store);
  await store.migrate();
  return store;
}

/** Runs a started Batch's Items to `bytes`-long results and ends it. */
async function finish(store: Store, batchId: string, count: number, nowMs: number, bytes: number): Promise<void> {
  const claimed = await store.claimItems({ owner: "w", model: MODEL, limit: count, nowMs, leaseMs: LEASE_MS });
  const body = JSON.stringify({ ok: true, text: "x".repeat(bytes) });
  await store.completeItems(
    claimed.map((item) => ({ batchId, index: item.index, owner: "w", attempt: item.attempt, status: "succeeded" as const, result: { ...okResult(nowMs), body } })),
    nowMs,
  );
  await store.claimFinalization(batchId, { owner: "f", nowMs, leaseMs: LEASE_MS });
  expect((await store.finishBatch(batchId, "f", { status: "completed", outputFileId: null, errorFileId: null, nowMs }))?.status).toBe("completed");
}

describe("spool compact", () => {
  it("gives back the space of purged Items and keeps every row still stored", async () => {
    const dataDir = makeDataDir("cli-compact");
    const file = path.join(dataDir, "spool.sqlite");
    const store = await openStore(dataDir);
    const large = await startedBatch(store, 4_000, { createdAtMs: T0 });
    await finish(store, large.id, 4_000, T0 + 1, 4_000);
    const kept = await startedBatch(store, 3, { createdAtMs: T0 + 20 * DAY_MS });
    await finish(store, kept.id, 3, T0 + 20 * DAY_MS + 1, 10);
    // Retention archives the old Batch and purges its Items, as the Sweeper would.
    expect(await store.archiveBatches({ createdBeforeMs: T0 + DAY_MS, endedBeforeMs: T0 + DAY_MS, nowMs: T0 + 30 * DAY_MS, limit: 10 })).toEqual([large.id]);
    let purged = 0;
    for (let deleted = -1; deleted !== 0; purged += deleted) deleted = await store.purgeArchivedItems(T0 + 30 * DAY_MS, 2_000);
    expect(purged).toBe(4_000);
    await store.close();
    open.splice(0);
    const before = statSync(file).size;

    const compacted = await runSpoolCli(["compact", "--data-dir", dataDir]);
    expect(compacted.code, compacted.stderr).toBe(0);
    const after = statSync(file).size;
    expect(before).toBeGreaterThan(16 * 1024 * 1024);
    expect(after).toBeLessThan(before / 10);
    const [, reportedBefore, reportedAfter] = /: ([\d,.]+) MB -> ([\d,.]+) MB/.exec(compacted.stdout) ?? [];
    expect(Number(reportedBefore?.replace(/,/g, ""))).toBeCloseTo(before / 1024 / 1024, 0);
    expect(Number(reportedAfter?.replace(/,/g, ""))).toBeCloseTo(after / 1024 / 1024, 0);

    const reopened = await openStore(dataDir);
    expect((await reopened.getBatch(large.id))?.archivedAtMs).toBe(T0 + 30 * DAY_MS);
    expect((await allItems(reopened, large.id)).length).toBe(0);
    expect((await allItems(reopened, kept.id)).map((item) => [item.index, item.status, JSON.parse(item.result?.body ?? "null")])).toEqual(
      [0, 1, 2].map((index) => [index, "succeeded", { ok: true, text: "x".repeat(10) }]),
    );
  });

  it("refuses while another process has the store open, and changes nothing", async () => {
    const dataDir = makeDataDir("cli-compact-busy");
    const file = path.join(dataDir, "spool.sqlite");
    const store = await openStore(dataDir);
    const batch = await startedBatch(store, 2, { createdAtMs: T0 });
    const before = statSync(file);

    const refused = await runSpoolCli(["compact", "--data-dir", dataDir]);
    expect(refused.code).toBe(3);
    expect(refused.stderr).toContain(`${file} is in use by another process`);
    expect(refused.stderr).toContain("Nothing was changed");
    expect(statSync(file).mtimeMs).toBe(before.mtimeMs);
    // The store that was open works on.
    expect((await store.claimItems({ owner: "w", model: MODEL, limit: 5, nowMs: T0 + 1, leaseMs: LEASE_MS })).map((item) => item.batchId)).toEqual([batch.id, batch.id]);
    await store.close();
    open.splice(0);
    expect((await runSpoolCli(["compact", "--data-dir", dataDir])).code).toBe(0);
  });

  it.skipIf(noTmpfs !== null)("refuses, changing nothing, when the disk lacks the space VACUUM needs", async () => {
    // A store of a few MB, copied closed (no WAL) onto a tmpfs with room for one more copy but not two.
    const built = makeDataDir("cli-compact-space");
    const store = await openStore(built);
    const batch = await startedBatch(store, 1_500, { createdAtMs: T0 });
    await finish(store, batch.id, 1_500, T0 + 1, 3_000);
    await store.close();
    open.splice(0);
    const size = statSync(path.join(built, "spool.sqlite")).size;
    const disk = mountTinyFilesystem("cli-compact-space", Math.round(size * 2.6));
    try {
      const file = path.join(disk.dir, "spool.sqlite");
      copyFileSync(path.join(built, "spool.sqlite"), file);
      const before = statSync(file);
      // SQLite's temporary directory on the same filesystem: VACUUM needs the pages in use twice there.
      const both = await runSpoolCli(["compact", "--data-dir", disk.dir], { SQLITE_TMPDIR: disk.dir });
      expect(both.code).toBe(3);
      expect(both.stderr).toContain(`Not enough disk space to compact ${file}: it needs about`);
      expect(both.stderr).toContain(`which also holds SQLite's temporary directory ${disk.dir}`);
      expect(both.stderr).toContain("Nothing was changed");
      expect(statSync(file).mtimeMs).toBe(before.mtimeMs);
      // A full disk: not even once.
      disk.fill();
      const full = await runSpoolCli(["compact", "--data-dir", disk.dir]);
      expect(full.code).toBe(3);
      expect(full.stderr).toMatch(/it needs about [\d,.]+ MB free in .* \(0\.0 MB are\)/);
      disk.free();
      // The temporary directory elsewhere (the default), and room for one copy: it runs.
      const done = await runSpoolCli(["compact", "--data-dir", disk.dir]);
      expect(done.code, done.stderr).toBe(0);
      const reopened = await openStore(disk.dir);
      expect(await allItems(reopened, batch.id)).toHaveLength(1_500);
    } finally {
      await Promise.all(open.splice(0).map((opened) => opened.close()));
      disk.unmount();
    }
  });

  it("says what is wrong when there is no store, and on PostgreSQL", async () => {
    const empty = makeDataDir("cli-compact-none");
    const missing = await runSpoolCli(["compact", "--data-dir", empty]);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain(`No store to compact: ${path.join(empty, "spool.sqlite")} does not exist`);
    const postgres = await runSpoolCli(["compact", "--database-url", "postgres://127.0.0.1:5432/spool"]);
    expect(postgres.code).toBe(2);
    expect(postgres.stderr).toContain("VACUUM FULL");
  });
});
