/** Builders shared by the Store conformance tests. Time is explicit: every test starts at T0 and adds to it. */
import { expect } from "vitest";
import type { Batch, ItemResult } from "../../src/core/types.ts";
import type { CachedModel, ItemCompletion, NewBatch, NewFile, NewItem, Store } from "../../src/store/store.ts";

export const T0 = Date.UTC(2026, 0, 1);
export const LEASE_MS = 30_000;
export const DAY_MS = 24 * 3600 * 1000;
export const MODEL = "test-model";

let counter = 0;
const nextId = (prefix: string): string => `${prefix}${(counter += 1).toString(36).padStart(4, "0")}`;

export function newFile(overrides: Partial<NewFile> = {}): NewFile {
  return {
    id: nextId("file-f"),
    tenant: "default",
    purpose: "batch",
    filename: "input.jsonl",
    displayName: null,
    mimeType: "application/jsonl",
    bytes: 123,
    sha256: "a".repeat(64),
    source: "uploaded",
    createdAtMs: T0,
    expiresAtMs: null,
    ...overrides,
  };
}

export function newBatch(overrides: Partial<NewBatch> = {}): NewBatch {
  return {
    id: nextId("batch_b"),
    dialect: "openai",
    kind: "chat",
    endpoint: "/v1/chat/completions",
    model: null,
    inputFileId: "file-input",
    invalidLinePolicy: "fail",
    displayName: null,
    metadata: null,
    options: {},
    priority: 0,
    createdAtMs: T0,
    expiresAtMs: T0 + DAY_MS,
    ...overrides,
  };
}

export function newItems(count: number, options: { from?: number; model?: string } = {}): NewItem[] {
  const from = options.from ?? 0;
  return Array.from({ length: count }, (_, offset) => ({
    index: from + offset,
    clientId: `req-${from + offset}`,
    echo: null,
    model: options.model ?? MODEL,
    kind: "chat",
    request: JSON.stringify({ messages: [{ role: "user", content: `hello ${from + offset}` }] }),
  }));
}

export function okResult(nowMs: number, tokens = { inputTokens: 3, outputTokens: 5 }): ItemResult {
  return { statusCode: 200, body: '{"ok":true}', errorCode: null, errorMessage: null, requestId: "req_up", usage: tokens, finishedAtMs: nowMs };
}

export function errorResult(nowMs: number, errorCode = "upstream_error"): ItemResult {
  return { statusCode: 500, body: '{"error":"boom"}', errorCode, errorMessage: "Upstream failed.", requestId: null, usage: { inputTokens: 0, outputTokens: 0 }, finishedAtMs: nowMs };
}

/** Creates a Batch and takes it through validation with `count` Items, leaving it in_progress. */
export async function startedBatch(
  store: Store,
  count: number,
  options: { model?: string; createdAtMs?: number; expiresAtMs?: number; batch?: Partial<NewBatch> } = {},
): Promise<Batch> {
  const createdAtMs = options.createdAtMs ?? T0;
  const created = await store.createBatch(newBatch({ createdAtMs, expiresAtMs: options.expiresAtMs ?? createdAtMs + DAY_MS, ...options.batch }));
  const claimed = await store.claimValidation({ owner: "validator", nowMs: createdAtMs, leaseMs: LEASE_MS });
  expect(claimed?.id).toBe(created.id);
  await store.insertItems(created.id, newItems(count, { model: options.model }));
  const started = await store.startBatch(created.id, { owner: "validator", total: count, model: options.model ?? MODEL, errors: null, nowMs: createdAtMs + 1 });
  expect(started?.status).toBe("in_progress");
  return started as Batch;
}

export function completion(item: { batchId: string; index: number; attempt: number }, owner: string, nowMs: number, status: "succeeded" | "failed" = "succeeded"): ItemCompletion {
  return { batchId: item.batchId, index: item.index, owner, attempt: item.attempt, status, result: status === "succeeded" ? okResult(nowMs) : errorResult(nowMs) };
}

/** Every Item of a Batch, in index order. */
export async function allItems(store: Store, batchId: string): Promise<Awaited<ReturnType<Store["readItems"]>>["items"]> {
  const page = await store.readItems(batchId, { afterIndex: -1, limit: 1_000_000 });
  return page.items;
}

/** Asserts the Batch counters equal what its Items say (the same-transaction rule). */
export async function expectCountsMatchItems(store: Store, batchId: string): Promise<void> {
  const batch = await store.getBatch(batchId);
  const items = await allItems(store, batchId);
  const count = (status: string): number => items.filter((item) => item.status === status).length;
  expect(batch?.counts).toEqual({ total: items.length, succeeded: count("succeeded"), failed: count("failed"), cancelled: count("cancelled"), expired: count("expired") });
  const sum = (field: "inputTokens" | "outputTokens"): number => items.reduce((total, item) => total + (item.result?.usage[field] ?? 0), 0);
  expect(batch?.usage).toEqual({ inputTokens: sum("inputTokens"), outputTokens: sum("outputTokens") });
}

/** The keys of one Item of arrangedBatch: its prefix key and request hash (either may be null). */
export type ItemKeySpec = { prefixKey?: string | null; requestHash?: string | null };

/**
 * Creates a Batch whose Items carry `keys` (one entry per Item, in index order) and starts it with
 * `arrange` (what validation does when any Item has a key), leaving it in_progress.
 */
export async function arrangedBatch(
  store: Store,
  keys: readonly ItemKeySpec[],
  options: { createdAtMs?: number; arrange?: boolean; resultCache?: readonly CachedModel[]; batch?: Partial<NewBatch> } = {},
): Promise<Batch> {
  const createdAtMs = options.createdAtMs ?? T0;
  const created = await store.createBatch(newBatch({ createdAtMs, expiresAtMs: createdAtMs + DAY_MS, ...options.batch }));
  const claimed = await store.claimValidation({ owner: "validator", nowMs: createdAtMs, leaseMs: LEASE_MS });
  expect(claimed?.id).toBe(created.id);
  const items = newItems(keys.length).map((item, index) => ({ ...item, prefixKey: keys[index]?.prefixKey ?? null, requestHash: keys[index]?.requestHash ?? null }));
  await store.insertItems(created.id, items);
  const started = await store.startBatch(created.id, { owner: "validator", total: keys.length, model: MODEL, errors: null, nowMs: createdAtMs + 1, arrange: options.arrange ?? true, resultCache: options.resultCache });
  expect(started?.status).toBe("in_progress");
  return started as Batch;
}
