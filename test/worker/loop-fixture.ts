/**
 * The one place the loop tests build Workers, Sweepers and their collaborators, as the composition root
 * (src/app.ts) does: real Store, real BlobStore, real ModelDispatcher over a real `openai` Engine pointed at
 * the in-process fake upstream. When the constructors of Worker or Sweeper change, adapt this file only.
 *
 * Time: Leases, expiry and result timestamps follow a ManualClock the test moves. The loops still wait
 * on real timers (poll, flush delay, heartbeat), so the settings below keep those short, except the
 * heartbeat: it fires every leaseMs / 3 of real time, and LEASE_MS is long enough that it never fires
 * during a test unless the test asks for a short lease. Otherwise a heartbeat landing between "advance
 * the clock past the Lease" and "sweep" would renew the Lease and make the test flaky.
 */
import { Readable } from "node:stream";
import { pino } from "pino";
import { afterEach, expect } from "vitest";
import { BATCH_FORMATS } from "../../src/dialects/registry.ts";
import type { Config, OpenAIModelConfig } from "../../src/config/config.ts";
import { ManualClock } from "../../src/core/clock.ts";
import { newBatchId, newFileId } from "../../src/core/ids.ts";
import { ModelCatalog } from "../../src/core/model-catalog.ts";
import type { Batch, InvalidLinePolicy, Item } from "../../src/core/types.ts";
import { OpenAIEngine } from "../../src/engines/openai/openai-engine.ts";
import { LocalBlobStore } from "../../src/store/blob/local-blob-store.ts";
import type { Store } from "../../src/store/store.ts";
import { ModelDispatcher } from "../../src/dispatch/model-dispatcher.ts";
import { Sweeper, type SweeperDeps } from "../../src/worker/sweeper.ts";
import { Worker } from "../../src/worker/worker.ts";
import { startFakeOpenAIUpstream, type FakeOpenAIUpstream } from "../helpers/fake-openai-upstream.ts";
import { testWorkDir } from "../helpers/test-dirs.ts";

export const MODEL = "gpt-test";
export const LEASE_MS = 300_000;
export const HOUR_MS = 3600 * 1000;

type WorkerSettings = Config["worker"];

const SETTINGS: WorkerSettings = { leaseMs: LEASE_MS, pollMs: 20, maxAttempts: 3, shutdownGraceMs: 0, sweepMs: 50, dispatchOrder: "prefix", cancelRunning: "abort" };
const LIMITS: Config["limits"] = { maxUploadBytes: 1 << 20, maxGeminiUploadBytes: 1 << 20, maxVisionUploadBytes: 1 << 20, maxUserDataUploadBytes: 1 << 20, maxLineBytes: 1 << 16, maxBatchItems: 1_000 };

export interface WorkerOptions {
  /** Another Store on the same database makes this Worker act as another process. */
  store?: Store;
  owner?: string;
  concurrency?: number;
  maxRetries?: number;
  /** Sent upstream with every request of this Worker, so a fault rule can tell Workers apart. */
  headers?: Record<string, string>;
  settings?: Partial<WorkerSettings>;
  onResults?: (prompt: boolean, batchIds: ReadonlySet<string>) => void;
  /** How long results wait to be written together (the Worker's default is 20 ms). */
  resultDelayMs?: number;
  /** The Model's batch hours (off-peak window). */
  schedule?: OpenAIModelConfig["schedule"];
  /** The Model's result cache across Batches. */
  resultCache?: OpenAIModelConfig["resultCache"];
  /** How Batch requests yield to sync ones (decision 0025). */
  syncFirst?: OpenAIModelConfig["syncFirst"];
}

export interface SweeperOptions {
  store?: Store;
  owner?: string;
  settings?: Partial<WorkerSettings>;
  onBatchStarted?: () => void;
  /** Limits other than the fixture's small ones (a Batch of more than 1,000 requests). */
  limits?: Partial<Config["limits"]>;
  /** The Model's result cache across Batches (validation looks results up; the sweep purges old ones). */
  resultCache?: OpenAIModelConfig["resultCache"];
  /** Least time between sweeps woken by results (the Sweeper's default is 100 ms). */
  minSweepGapMs?: number;
  /** Result files written while large Batches run (off unless given). */
  earlyResults?: SweeperDeps["earlyResults"];
}

export interface LoopFixture {
  clock: ManualClock;
  store: Store;
  blobs: LocalBlobStore;
  upstream: FakeOpenAIUpstream;
  createWorker(options?: WorkerOptions): Worker;
  /** The Dispatcher a Worker of createWorker runs on (sync requests go through it too). */
  dispatcherOf(worker: Worker): ModelDispatcher;
  createSweeper(options?: SweeperOptions): Sweeper;
  /** Uploads `lines` as an input File and creates a Batch over it, still validating. */
  submitBatch(lines: readonly string[], options?: { expiresInMs?: number; invalidLinePolicy?: InvalidLinePolicy; priority?: number }): Promise<Batch>;
  /** submitBatch, then one validation pass by a Sweeper: the Batch comes back in_progress. */
  startBatch(lines: readonly string[], options?: { expiresInMs?: number; priority?: number }): Promise<Batch>;
  close(): Promise<void>;
}

/**
 * Registers the teardown once per `describe` (after useStores, so it runs before the Stores close: Workers
 * release their Items on stop). `create(store)` builds the fixture for the running test.
 */
export function useLoopFixture(): { create(store: Store): Promise<LoopFixture> } {
  let current: LoopFixture | null = null;
  afterEach(async () => {
    const closing = current;
    current = null;
    await closing?.close();
  });
  return {
    async create(store) {
      current = await createLoopFixture(store);
      return current;
    },
  };
}

export async function createLoopFixture(store: Store): Promise<LoopFixture> {
  const clock = new ManualClock();
  const logger = pino({ level: process.env.SPOOL_TEST_LOG ?? "silent" });
  const upstream = await startFakeOpenAIUpstream();
  const blobs = new LocalBlobStore(testWorkDir("loops", expect.getState().currentTestName ?? "loop"));
  const formats = BATCH_FORMATS;
  const workers: Worker[] = [];
  const dispatchers = new Map<Worker, ModelDispatcher>();
  const sweepers: Sweeper[] = [];
  const closers: (() => Promise<void>)[] = [];
  let ownerCount = 0;
  const nextOwner = (role: string): string => `${role}-${(ownerCount += 1)}`;

  const createWorker = (options: WorkerOptions = {}): Worker => {
    const model: OpenAIModelConfig = {
      name: MODEL,
      engine: "openai",
      baseUrl: upstream.url,
      concurrency: options.concurrency ?? 4,
      timeoutMs: 30_000,
      maxRetries: options.maxRetries ?? 2,
      headers: options.headers,
      schedule: options.schedule,
      resultCache: options.resultCache,
      syncFirst: options.syncFirst,
    };
    const catalog = new ModelCatalog([model]);
    const engine = new OpenAIEngine();
    // Backoff of a few real milliseconds: the retry policy itself is tested in test/dispatch/model-dispatcher.test.ts.
    const settings = { ...SETTINGS, ...options.settings };
    const dispatcher = new ModelDispatcher({ resolve: (name) => (catalog.get(name) ? { engine, model } : undefined), clock, logger, retry: { baseMs: 1, capMs: 5 }, cancelRunning: settings.cancelRunning });
    const worker = new Worker({
      store: options.store ?? store,
      dispatcher,
      catalog,
      clock,
      logger,
      formats,
      settings,
      owner: options.owner ?? nextOwner("worker"),
      onResults: options.onResults,
      resultDelayMs: options.resultDelayMs,
    });
    workers.push(worker);
    dispatchers.set(worker, dispatcher);
    closers.push(() => dispatcher.close(), () => engine.close());
    return worker;
  };

  const createSweeper = (options: SweeperOptions = {}): Sweeper => {
    const sweeper = new Sweeper({
      store: options.store ?? store,
      blobs,
      catalog: new ModelCatalog([{ name: MODEL, engine: "openai", baseUrl: upstream.url, concurrency: 4, timeoutMs: 30_000, maxRetries: 2, resultCache: options.resultCache }]),
      clock,
      logger,
      formats,
      settings: { ...SETTINGS, ...options.settings },
      limits: { ...LIMITS, ...options.limits },
      owner: options.owner ?? nextOwner("sweeper"),
      onBatchStarted: options.onBatchStarted,
      minSweepGapMs: options.minSweepGapMs,
      earlyResults: options.earlyResults,
    });
    sweepers.push(sweeper);
    return sweeper;
  };

  const submitBatch: LoopFixture["submitBatch"] = async (lines, options = {}) => {
    const fileId = newFileId();
    const text = Buffer.from(`${lines.join("\n")}\n`);
    const info = await blobs.put(fileId, Readable.from([text]));
    const nowMs = clock.now();
    await store.createFile({
      id: fileId, purpose: "batch", filename: "input.jsonl", displayName: null, mimeType: "application/jsonl",
      bytes: info.bytes, sha256: info.sha256, source: "uploaded", createdAtMs: nowMs, expiresAtMs: null,
    });
    return store.createBatch({
      id: newBatchId(), dialect: "openai", kind: "chat", endpoint: "/v1/chat/completions", model: null, inputFileId: fileId,
      invalidLinePolicy: options.invalidLinePolicy ?? "fail", displayName: null, metadata: null, options: {}, priority: options.priority ?? 0,
      createdAtMs: nowMs, expiresAtMs: nowMs + (options.expiresInMs ?? 24 * HOUR_MS),
    });
  };

  const startBatch: LoopFixture["startBatch"] = async (lines, options = {}) => {
    const submitted = await submitBatch(lines, options);
    expect(await createSweeper({ owner: "validator" }).validatePending()).toBe(1);
    const started = await store.getBatch(submitted.id);
    expect(started?.status).toBe("in_progress");
    return started as Batch;
  };

  return {
    clock,
    store,
    blobs,
    upstream,
    createWorker,
    dispatcherOf: (worker) => {
      const dispatcher = dispatchers.get(worker);
      if (dispatcher === undefined) throw new Error("not a Worker of this fixture");
      return dispatcher;
    },
    createSweeper,
    submitBatch,
    startBatch,
    async close() {
      await Promise.all(workers.map((worker) => worker.stop(0)));
      await Promise.all(sweepers.map((sweeper) => sweeper.stop()));
      for (const close of closers) await close();
      await upstream.close();
      await blobs.close();
    },
  };
}

/** A promise the test resolves when it wants: hand `opened` to FakeFault.until. */
export function gate(): { opened: Promise<void>; open(): void } {
  let open = (): void => undefined;
  const opened = new Promise<void>((resolve) => (open = resolve));
  return { opened, open };
}

/** Every Item of a Batch in input order. */
export async function itemsOf(store: Store, batchId: string): Promise<Item[]> {
  return (await store.readItems(batchId, { afterIndex: -1, limit: 100_000 })).items;
}

/** The text the fake upstream echoes back for a chat Item of `chatFile`-style input. */
export function replyText(item: Item): string | undefined {
  const body = JSON.parse(item.result?.body ?? "null") as { choices?: { message?: { content?: string } }[] } | null;
  return body?.choices?.[0]?.message?.content;
}

/** Reads a whole blob as text (result files are small in these tests). */
export async function blobText(blobs: LocalBlobStore, key: string): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of await blobs.read(key)) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString("utf8");
}
