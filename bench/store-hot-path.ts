/**
 * The Store's share of the hot path, without HTTP: claim -> complete cycles over one 100k-Item Batch, the
 * way a Worker drives them (claims of 128, completions recorded 500 at a time), on SQLite and PostgreSQL.
 * The baseline is the same number of rows inserted into the same Store (validation's bulk path), so the
 * ratio says how many times an Item's trip through the queue costs more than writing it once.
 */
import { mkdtempSync } from "node:fs";
import path from "node:path";
import { openPostgresStore } from "../src/store/postgres/index.ts";
import { openSqliteStore } from "../src/store/sqlite/index.ts";
import type { ClaimedItem, ItemCompletion, NewItem, Store } from "../src/store/store.ts";
import { TEST_DATABASE_URL, testSchemaName } from "../test/helpers/postgres.ts";
import { benchChatLine, row, timed, WORK_DIR } from "./lib.ts";

const MODEL = "gpt-bench";
const CLAIM = 128;
const RECORD = 500;
const LEASE_MS = 60_000;

function items(count: number): NewItem[] {
  return Array.from({ length: count }, (_, index) => ({ index, clientId: `request-${index}`, echo: null, model: MODEL, kind: "chat", request: benchChatLine(index) }));
}

async function cycle(store: Store, count: number, byShare = false): Promise<{ insertMs: number; runMs: number }> {
  const now = Date.now() + (byShare ? 1 : 0);
  const batch = await store.createBatch({
    id: `batch_bench_${now}`, dialect: "openai", kind: "chat", endpoint: "/v1/chat/completions", model: null, inputFileId: null,
    invalidLinePolicy: "fail", displayName: null, metadata: null, options: {}, priority: 0, createdAtMs: now, expiresAtMs: now + 86_400_000,
  });
  await store.claimValidation({ owner: "bench", nowMs: now, leaseMs: LEASE_MS });
  const all = items(count);
  const { ms: insertMs } = await timed(async () => {
    for (let start = 0; start < count; start += 5_000) await store.insertItems(batch.id, all.slice(start, start + 5_000));
  });
  const started = await store.startBatch(batch.id, { owner: "bench", total: count, model: MODEL, errors: null, nowMs: now });
  // The Worker's claim since issue 12: the lane's share of each queued Batch (here the only one).
  const batches = byShare && started ? [{ batchSeq: started.seq, limit: CLAIM }] : undefined;
  const body = JSON.stringify({ id: "chatcmpl-1", object: "chat.completion", choices: [{ index: 0, message: { role: "assistant", content: "ok" } }], usage: { prompt_tokens: 9, completion_tokens: 1 } });
  const { ms: runMs } = await timed(async () => {
    let buffered: ItemCompletion[] = [];
    for (;;) {
      const claimed: ClaimedItem[] = await store.claimItems({ owner: "w", model: MODEL, limit: CLAIM, nowMs: Date.now(), leaseMs: LEASE_MS, batches });
      if (claimed.length === 0) break;
      for (const item of claimed) {
        buffered.push({ batchId: item.batchId, index: item.index, owner: "w", attempt: item.attempt, status: "succeeded", result: { statusCode: 200, body, errorCode: null, errorMessage: null, requestId: null, usage: { inputTokens: 9, outputTokens: 1 }, finishedAtMs: Date.now() } });
      }
      if (buffered.length >= RECORD) {
        await store.completeItems(buffered, Date.now());
        buffered = [];
      }
    }
    await store.completeItems(buffered, Date.now());
  });
  return { insertMs, runMs };
}

export async function benchStoreHotPath(count = 100_000): Promise<void> {
  console.log(`\nStore hot path: ${count.toLocaleString()} Items claimed (${CLAIM}) and completed (${RECORD} per write), no HTTP`);
  const stores: [string, () => Promise<Store>][] = [
    ["SQLite", () => openSqliteStore(path.join(mkdtempSync(path.join(WORK_DIR, "store-")), "spool.sqlite"))],
    ["PostgreSQL", () => openPostgresStore(TEST_DATABASE_URL, { schema: testSchemaName(`bench hot path ${Date.now()}`), poolSize: 4 })],
  ];
  for (const [name, open] of stores) {
    try {
      const { insertMs, runMs } = await onFreshStore(open, (store) => cycle(store, count));
      const perItemUs = (runMs * 1000) / count;
      row(`${name}: insert (validation's bulk path)`, `${Math.round(count / (insertMs / 1000)).toLocaleString()} items/s`);
      row(`${name}: claim + complete`, `${Math.round(count / (runMs / 1000)).toLocaleString()} items/s`, `${perItemUs.toFixed(1)} µs/item; ${(runMs / insertMs).toFixed(2)}x the insert`);
      // The Worker's claim since issue 12 (decision 0017), on a store of its own as fresh as the first.
      const shared = await onFreshStore(open, (store) => cycle(store, count, true));
      row(`${name}: claim by Batch share + complete`, `${Math.round(count / (shared.runMs / 1000)).toLocaleString()} items/s`, `${((shared.runMs * 1000) / count).toFixed(1)} µs/item; ${(shared.runMs / runMs).toFixed(2)}x the FIFO claim`);
    } catch (error) {
      row(`${name}: skipped`, "", (error as Error).message.slice(0, 120));
    }
  }
}

async function onFreshStore<T>(open: () => Promise<Store>, work: (store: Store) => Promise<T>): Promise<T> {
  const store = await open();
  try {
    await store.migrate();
    return await work(store);
  } finally {
    await store.close();
  }
}
