/**
 * The keys validation gives Items (issue 10): a prefix key under `dispatchOrder: prefix` only, and a
 * request hash exactly for the lines their Model's `reuseResults` lets share a result. `spool validate`
 * (no keys asked) computes neither.
 */
import { describe, expect, it } from "vitest";
import type { ModelConfig } from "../../src/config/config.ts";
import { ModelCatalog } from "../../src/core/model-catalog.ts";
import type { Batch } from "../../src/core/types.ts";
import { openAIBatchFormat } from "../../src/dialects/openai/batch-format.ts";
import type { NewItem } from "../../src/store/store.ts";
import { checkLines, type DispatchOrder } from "../../src/worker/validate-batch.ts";
import { chatLine } from "../helpers/batch-files.ts";

const model = (name: string, reuseResults?: ModelConfig["reuseResults"]): ModelConfig => ({
  name,
  engine: "openai",
  baseUrl: "http://127.0.0.1:1/v1",
  concurrency: 1,
  timeoutMs: 1_000,
  maxRetries: 0,
  ...(reuseResults ? { reuseResults } : {}),
});
const catalog = new ModelCatalog([model("gpt-test"), model("gpt-always", "always"), model("gpt-never", "never")]);

const batch: Batch = {
  id: "batch_keys", tenant: "default", seq: 1, dialect: "openai", kind: "chat", endpoint: "/v1/chat/completions", model: null, status: "validating",
  inputFileId: "file-in", outputFileId: null, errorFileId: null, invalidLinePolicy: "fail", errors: null,
  counts: { total: 0, succeeded: 0, failed: 0, cancelled: 0, expired: 0 }, reusedItems: 0, usage: { inputTokens: 0, outputTokens: 0 }, charges: { batchNanoUsd: 0, listNanoUsd: 0 },
  displayName: null, metadata: null, options: {}, priority: 0, createdAtMs: 0, updatedAtMs: 0, expiresAtMs: 1,
  inProgressAtMs: null, finalizingAtMs: null, completedAtMs: null, failedAtMs: null, expiredAtMs: null,
  cancellingAtMs: null, cancelledAtMs: null, deletedAtMs: null, archivedAtMs: null,
};

const system = { role: "system", content: "You grade essays. ".repeat(20) };
const line = (id: string, text: string, temperature: number | undefined, modelName = "gpt-test") =>
  chatLine(id, text, modelName, { messages: [system, { role: "user", content: text }], ...(temperature === undefined ? {} : { temperature }) });

async function itemsOf(lines: string[], keys?: { order: DispatchOrder }): Promise<{ items: NewItem[]; keyed: boolean }> {
  const items: NewItem[] = [];
  async function* source(): AsyncIterable<Uint8Array> {
    yield Buffer.from(`${lines.join("\n")}\n`);
  }
  const report = await checkLines(source(), {
    batch,
    format: openAIBatchFormat,
    catalog,
    limits: { maxLineBytes: 1 << 20, maxBatchItems: 1_000 },
    nowMs: () => 0,
    onItem: (item) => void items.push(item),
    ...(keys ? { keys } : {}),
  });
  expect(report.errors).toEqual([]);
  return { items, keyed: report.keyed };
}

describe("item keys at validation", () => {
  it("hashes identical deterministic requests alike under different custom ids, and leaves sampled ones unhashed", async () => {
    const { items, keyed } = await itemsOf([line("a", "essay 1", 0), line("b", "essay 1", 0), line("c", "essay 2", 0), line("d", "essay 1", 0.7), line("e", "essay 1", undefined)], { order: "prefix" });
    expect(keyed).toBe(true);
    const [a, b, c, d, e] = items;
    expect(a?.requestHash).toMatch(/^[A-Za-z0-9_-]{22}$/);
    expect(b?.requestHash).toBe(a?.requestHash);
    expect(c?.requestHash).not.toBe(a?.requestHash);
    expect([d?.requestHash, e?.requestHash]).toEqual([null, null]);
    // One system prompt: one prefix group, whatever the temperature.
    expect(new Set(items.map((item) => item.prefixKey)).size).toBe(1);
    expect(a?.prefixKey).not.toBeNull();
  });

  it("asks startBatch to arrange by prefix only when the Items' prefix keys differ", async () => {
    const oneGroup = await itemsOf([line("a", "essay 1", 0.7), line("b", "essay 2", 0.7), line("c", "essay 3", 0.7)], { order: "prefix" });
    expect(new Set(oneGroup.items.map((item) => item.prefixKey)).size).toBe(1);
    expect(oneGroup.keyed).toBe(false);
    const other = chatLine("c", "essay 3", "gpt-test", { messages: [{ role: "system", content: "You summarise essays. ".repeat(20) }, { role: "user", content: "essay 3" }], temperature: 0.7 });
    const twoGroups = await itemsOf([line("a", "essay 1", 0.7), line("b", "essay 2", 0.7), other], { order: "prefix" });
    expect(twoGroups.keyed).toBe(true);
    // A keyed Item among unkeyed ones moves ahead of them: that is an arrangement too.
    const mixed = await itemsOf([chatLine("a", "short 1", "gpt-test", { temperature: 0.7 }), line("b", "essay 2", 0.7)], { order: "prefix" });
    expect(mixed.items.map((item) => item.prefixKey === null)).toEqual([true, false]);
    expect(mixed.keyed).toBe(true);
  });

  it("gives no prefix keys under dispatchOrder input, but still hashes for reuse", async () => {
    const { items, keyed } = await itemsOf([line("a", "essay 1", 0), line("b", "essay 1", 0.7)], { order: "input" });
    expect(items.map((item) => item.prefixKey)).toEqual([null, null]);
    expect(items[0]?.requestHash).not.toBeNull();
    expect(items[1]?.requestHash).toBeNull();
    // One hashed request cannot be a duplicate: nothing to arrange.
    expect(keyed).toBe(false);
  });

  it("asks startBatch to arrange a batch without prefix keys only when two of its requests may be the same", async () => {
    const distinct = await itemsOf([line("a", "essay 1", 0), line("b", "essay 2", 0), line("c", "essay 3", 0)], { order: "input" });
    expect(distinct.items.every((item) => item.requestHash !== null)).toBe(true);
    expect(distinct.keyed).toBe(false);
    const repeated = await itemsOf([line("a", "essay 1", 0), line("b", "essay 2", 0), line("c", "essay 1", 0)], { order: "input" });
    expect(repeated.items[2]?.requestHash).toBe(repeated.items[0]?.requestHash);
    expect(repeated.keyed).toBe(true);
  });

  it("follows the model's reuseResults: always hashes sampled requests, never hashes none", async () => {
    const always = await itemsOf([line("a", "essay 1", 0.7, "gpt-always")], { order: "input" });
    expect(always.items[0]?.requestHash).not.toBeNull();
    const never = await itemsOf([line("a", "essay 1", 0, "gpt-never")], { order: "input" });
    expect(never.items[0]).toMatchObject({ prefixKey: null, requestHash: null });
    expect(never.keyed).toBe(false);
  });

  it("computes no keys when none are asked for (spool validate)", async () => {
    const { items, keyed } = await itemsOf([line("a", "essay 1", 0)]);
    expect(items[0]).toMatchObject({ prefixKey: null, requestHash: null });
    expect(keyed).toBe(false);
  });
});
