/**
 * A Batch whose validation fails inside spool ends, it does not loop (issue 9, item 2): the Store counts
 * validation Attempts when the Lease is taken; an unexpected error is retried after a short delay, and the
 * third one fails the Batch with that error as its reason. A cancel of such a Batch reaches "cancelled".
 *
 * The fault is real: a trigger that makes every insert of Items fail, created through a second connection
 * to the same database (SQLite file or PostgreSQL schema), and dropped to heal it. The Sweeper, Store,
 * BlobStore and batch formats are spool's own; time is a ManualClock.
 */
import Database from "better-sqlite3";
import { Readable } from "node:stream";
import pg from "pg";
import { afterEach, describe, expect, it } from "vitest";
import { BATCH_FORMATS } from "../../src/dialects/registry.ts";
import { loadConfig } from "../../src/config/load-config.ts";
import { ManualClock } from "../../src/core/clock.ts";
import { ModelCatalog } from "../../src/core/model-catalog.ts";
import { LocalBlobStore } from "../../src/store/blob/local-blob-store.ts";
import { openSqliteStore } from "../../src/store/sqlite/index.ts";
import type { Store } from "../../src/store/store.ts";
import { Sweeper } from "../../src/worker/sweeper.ts";
import { MAX_VALIDATION_ATTEMPTS, validateBatch, type ValidationDeps } from "../../src/worker/validate-batch.ts";
import { chatLine } from "../helpers/batch-files.ts";
import { captureLog, type CapturedLog } from "../helpers/log-capture.ts";
import { openTestPostgresStores, TEST_DATABASE_URL } from "../helpers/postgres.ts";
import { writeConfigFile } from "../helpers/spool-app.ts";
import { storeBackends } from "../helpers/store-backends.ts";
import { testWorkDir, testWorkPath } from "../helpers/test-dirs.ts";

const FAULT = "injected fault: items cannot be written";
const LEASE_MS = 30_000;

interface Faultable {
  store: Store;
  /** Makes every insert of Items fail, as a bug or a broken database would. */
  inject(): Promise<void>;
  heal(): Promise<void>;
  close(): Promise<void>;
}

async function openSqliteFaultable(testName: string): Promise<Faultable> {
  const file = testWorkPath("stores", testName, ".sqlite");
  const store = await openSqliteStore(file);
  await store.migrate();
  const side = new Database(file);
  return {
    store,
    inject: async () => void side.exec(`CREATE TRIGGER test_fault BEFORE INSERT ON items BEGIN SELECT RAISE(ABORT, '${FAULT}'); END`),
    heal: async () => void side.exec("DROP TRIGGER test_fault"),
    close: async () => {
      side.close();
      await store.close();
    },
  };
}

async function openPostgresFaultable(testName: string): Promise<Faultable> {
  const { schema, stores } = await openTestPostgresStores(testName);
  const store = stores[0] as Store;
  const side = new pg.Client({ connectionString: TEST_DATABASE_URL, options: `-c search_path=${schema}` });
  await side.connect();
  return {
    store,
    inject: async () => {
      await side.query(`CREATE FUNCTION test_fault() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION '${FAULT}'; END $$`);
      await side.query("CREATE TRIGGER test_fault BEFORE INSERT ON items FOR EACH STATEMENT EXECUTE FUNCTION test_fault()");
    },
    heal: async () => void (await side.query("DROP TRIGGER test_fault ON items")),
    close: async () => {
      await side.end();
      await store.close();
    },
  };
}

const opened: Faultable[] = [];
afterEach(async () => {
  await Promise.all(opened.splice(0).map((faultable) => faultable.close()));
});

describe.each(storeBackends)("validation attempts ($name store)", (backend) => {
  async function setup(testName: string): Promise<{ faultable: Faultable; store: Store; sweeper: Sweeper; deps: ValidationDeps; clock: ManualClock; log: CapturedLog; createBatch(): Promise<string> }> {
    const name = `${backend.name} ${testName}`;
    const faultable = backend.name === "postgres" ? await openPostgresFaultable(name) : await openSqliteFaultable(name);
    opened.push(faultable);
    const dataDir = testWorkDir("data", name);
    const config = loadConfig({ config: writeConfigFile(dataDir, { dataDir, models: [{ name: "gpt-test", engine: "openai", baseUrl: "http://127.0.0.1:9/v1" }], worker: { leaseMs: LEASE_MS } }) }, {});
    const clock = new ManualClock();
    const log = captureLog();
    const blobs = new LocalBlobStore(dataDir);
    const { store } = faultable;
    const deps = { store, blobs, clock, logger: log.logger, formats: BATCH_FORMATS, catalog: new ModelCatalog(config.models), limits: config.limits };
    const sweeper = new Sweeper({ ...deps, settings: config.worker, owner: "sweeper-1" });
    let files = 0;
    const createBatch = async (): Promise<string> => {
      const fileId = `file-input${(files += 1)}`;
      const content = Buffer.from(`${chatLine("a", "one")}\n${chatLine("b", "two")}\n`);
      const info = await blobs.put(fileId, Readable.from([content]));
      await store.createFile({ id: fileId, purpose: "batch", filename: "in.jsonl", displayName: null, mimeType: null, ...info, source: "uploaded", createdAtMs: clock.now(), expiresAtMs: null });
      const batch = await store.createBatch({
        id: `batch_attempts${files}`, dialect: "openai", kind: "chat", endpoint: "/v1/chat/completions", model: null, inputFileId: fileId,
        invalidLinePolicy: "fail", displayName: null, metadata: null, options: {}, priority: 0, createdAtMs: clock.now(), expiresAtMs: clock.now() + 86_400_000,
      });
      return batch.id;
    };
    return { faultable, store, sweeper, deps: { ...deps, leaseMs: LEASE_MS }, clock, log, createBatch };
  }

  it("fails a batch whose validation keeps failing inside spool after three attempts, with the error as its reason", async () => {
    const { faultable, store, sweeper, clock, log, createBatch } = await setup("fails after three attempts");
    await faultable.inject();
    const id = await createBatch();

    expect(await sweeper.validatePending()).toBe(1);
    expect(await store.getBatch(id)).toMatchObject({ status: "validating", errors: null });
    // The next Attempt waits for the retry delay (1 s), not for the 30 s Lease.
    expect(await sweeper.validatePending()).toBe(0);
    clock.advance(1_000);
    expect(await sweeper.validatePending()).toBe(1);
    expect((await store.getBatch(id))?.status).toBe("validating");
    clock.advance(2_000);
    expect(await sweeper.validatePending()).toBe(1);

    const failed = await store.getBatch(id);
    expect(failed?.status).toBe("failed");
    expect(failed?.errors).toEqual([{ line: null, code: "internal_error", param: null, message: expect.stringContaining(FAULT) }]);
    expect(failed?.errors?.[0]?.message).toMatch(new RegExp(`failed ${MAX_VALIDATION_ATTEMPTS} times`));
    expect(log.errors(/validation failed inside spool/)).toHaveLength(MAX_VALIDATION_ATTEMPTS);
    // Nothing is left to validate: no loop.
    clock.advance(LEASE_MS * 10);
    expect(await sweeper.validatePending()).toBe(0);
  });

  it("runs the batch when the fault is gone by the next attempt", async () => {
    const { faultable, store, sweeper, clock, createBatch } = await setup("retries then runs");
    await faultable.inject();
    const id = await createBatch();
    await sweeper.validatePending();
    await faultable.heal();
    clock.advance(1_000);
    await sweeper.validatePending();
    expect(await store.getBatch(id)).toMatchObject({ status: "in_progress", counts: { total: 2 }, errors: null });
  });

  it("cancels a batch whose validation keeps failing, whether or not attempts are left", async () => {
    const { faultable, store, sweeper, deps, clock, createBatch } = await setup("cancel reaches cancelled");
    await faultable.inject();
    const early = await createBatch();
    await sweeper.validatePending();
    expect((await store.cancelBatch(early, clock.now())).status).toBe("cancelling");
    clock.advance(1_000);
    await sweeper.sweep();
    expect((await store.getBatch(early))?.status).toBe("cancelled");

    // Cancelled while its last Attempt runs: that Attempt releases the Batch and it is finalized at once.
    const late = await createBatch();
    for (let attempt = 1; attempt < MAX_VALIDATION_ATTEMPTS; attempt += 1) {
      await sweeper.validatePending();
      clock.advance(LEASE_MS);
    }
    const last = await store.claimValidation({ owner: "sweeper-1", nowMs: clock.now(), leaseMs: LEASE_MS });
    expect(last).toMatchObject({ id: late, attempt: MAX_VALIDATION_ATTEMPTS });
    await store.cancelBatch(late, clock.now());
    expect((await validateBatch(deps, last as NonNullable<typeof last>, "sweeper-1"))?.status).toBe("cancelling");
    await sweeper.sweep();
    expect((await store.getBatch(late))?.status).toBe("cancelled");
  });

  it("fails at once a batch whose validation never finished three times (its process died each time)", async () => {
    const { store, sweeper, clock, createBatch } = await setup("never finished");
    const id = await createBatch();
    for (let attempt = 1; attempt <= MAX_VALIDATION_ATTEMPTS; attempt += 1) {
      expect(await store.claimValidation({ owner: `dead-${attempt}`, nowMs: clock.now(), leaseMs: LEASE_MS })).toMatchObject({ id, attempt });
      clock.advance(LEASE_MS);
    }
    expect(await sweeper.validatePending()).toBe(1);
    const failed = await store.getBatch(id);
    expect(failed?.status).toBe("failed");
    expect(failed?.errors?.[0]).toMatchObject({ code: "internal_error", message: expect.stringMatching(/started 3 times and never finished/) });
  });
});
