import { describe, expect, it } from "vitest";
import { geminiBatchFormat } from "../../../src/dialects/gemini/batch-format.ts";
import { cancelledResult, expiredResult } from "../../../src/core/batch-format.ts";
import { ModelCatalog } from "../../../src/core/model-catalog.ts";
import type { Batch, Item, ItemResult } from "../../../src/core/types.ts";

const catalog = new ModelCatalog([
  { name: "gen", engine: "openai", baseUrl: "http://127.0.0.1:1/v1", concurrency: 1, timeoutMs: 1, maxRetries: 0, kinds: ["chat"] },
  { name: "emb", engine: "openai", baseUrl: "http://127.0.0.1:1/v1", concurrency: 1, timeoutMs: 1, maxRetries: 0, kinds: ["embedding"] },
]);

function batch(kind: "chat" | "embedding", options: Record<string, unknown> = {}): Batch {
  return {
    id: "batch_abc", tenant: "default", seq: 1, dialect: "gemini", kind, endpoint: "batchGenerateContent", model: kind === "chat" ? "gen" : "emb", status: "validating",
    inputFileId: "file-in", outputFileId: null, errorFileId: null, invalidLinePolicy: "skip", errors: null,
    counts: { total: 0, succeeded: 0, failed: 0, cancelled: 0, expired: 0 }, reusedItems: 0, usage: { inputTokens: 0, outputTokens: 0 }, charges: { batchNanoUsd: 0, listNanoUsd: 0 },
    displayName: null, metadata: null, options, priority: 0, createdAtMs: 0, updatedAtMs: 0, expiresAtMs: 1,
    inProgressAtMs: null, finalizingAtMs: null, completedAtMs: null, failedAtMs: null, expiredAtMs: null,
    cancellingAtMs: null, cancelledAtMs: null, deletedAtMs: null, archivedAtMs: null,
  };
}

function item(result: ItemResult, extra: Partial<Item> = {}): Item {
  return { batchId: "batch_abc", index: 0, clientId: "k1", echo: null, model: "gen", kind: "chat", status: "failed", attempts: 1, result, ...extra };
}

const ok = (body: unknown): ItemResult => ({ statusCode: 200, body: JSON.stringify(body), errorCode: null, errorMessage: null, requestId: null, usage: { inputTokens: 1, outputTokens: 1 }, finishedAtMs: 0 });

describe("geminiBatchFormat", () => {
  it("keeps the line as the request and hands the engine its `request` object", () => {
    const text = JSON.stringify({ key: "k", request: { contents: [{ parts: [{ text: "hi" }] }], generation_config: { temperature: 0 } } });
    const outcome = geminiBatchFormat.parseLine(text, 1, batch("chat"), catalog);
    expect(outcome).toMatchObject({ ok: true, line: { clientId: "k", model: "gen", kind: "chat" } });
    if (!outcome.ok) return;
    expect(geminiBatchFormat.requestBody(outcome.line.request)).toEqual({ contents: [{ parts: [{ text: "hi" }] }], generation_config: { temperature: 0 } });
  });

  it("takes the key from metadata.key in files but never in inline batches, where metadata is echoed", () => {
    const text = JSON.stringify({ metadata: { key: "m1" }, request: { contents: [{ parts: [{ text: "hi" }] }] } });
    expect(geminiBatchFormat.parseLine(text, 1, batch("chat"), catalog)).toMatchObject({ ok: true, line: { clientId: "m1", echo: '{"key":"m1"}' } });
    expect(geminiBatchFormat.parseLine(text, 1, batch("chat", { inline: true }), catalog)).toMatchObject({ ok: true, line: { clientId: null, echo: '{"key":"m1"}' } });
  });

  it("checks embedding lines for content, task type and dimensionality, and per-line models for the kind", () => {
    const errors = (request: unknown) => {
      const outcome = geminiBatchFormat.parseLine(JSON.stringify({ key: "e", request }), 4, batch("embedding"), catalog);
      return outcome.ok ? [] : outcome.errors.map((error) => [error.line, error.param]);
    };
    expect(errors({ content: { parts: [{ text: "x" }] }, outputDimensionality: 3 })).toEqual([]);
    expect(errors({ contents: [{ parts: [{ text: "x" }] }] })).toEqual([[4, "request.contents"]]);
    expect(errors({ content: { parts: [{ text: "x" }] }, taskType: "NOPE", output_dimensionality: 0 })).toEqual([[4, "request.taskType"], [4, "request.outputDimensionality"]]);
    expect(errors({ model: "models/gen", content: { parts: [{ text: "x" }] } })).toEqual([[4, "request.model"]]);
  });

  it("writes success, upstream failure, validation failure and never-ran lines with google.rpc codes", () => {
    const success = geminiBatchFormat.resultLine(batch("chat"), item(ok({ candidates: [] }), { echo: '{"a":1}' }));
    expect(success.target).toBe("output");
    expect(JSON.parse(success.line)).toEqual({ response: { candidates: [] }, metadata: { a: 1 }, key: "k1" });

    const upstream: ItemResult = { ...ok(null), statusCode: 429, body: JSON.stringify({ error: { code: 429, message: "slow down", status: "RESOURCE_EXHAUSTED" } }) };
    expect(JSON.parse(geminiBatchFormat.resultLine(batch("chat"), item(upstream)).line)).toEqual({ error: { code: 8, message: "slow down", details: [] }, key: "k1" });

    const invalid = geminiBatchFormat.invalidLineResult([{ line: 2, code: "missing_contents", param: "request.contents", message: "Line 2: request.contents: is required" }], 0);
    const invalidLine = JSON.parse(geminiBatchFormat.resultLine(batch("chat"), item(invalid, { clientId: null })).line) as { error: { code: number; details: unknown[] }; key?: string };
    expect(invalidLine.error.code).toBe(3);
    expect(invalidLine.key).toBeUndefined();
    expect(invalidLine.error.details).toEqual([{ "@type": "type.googleapis.com/google.rpc.BadRequest", fieldViolations: [{ field: "request.contents", description: "Line 2: request.contents: is required" }] }]);

    expect(JSON.parse(geminiBatchFormat.resultLine(batch("chat"), item(cancelledResult(0))).line).error.code).toBe(1);
    expect(JSON.parse(geminiBatchFormat.resultLine(batch("chat"), item(expiredResult(0))).line).error.code).toBe(4);
    const crashed: ItemResult = { ...expiredResult(0), errorCode: "item_crashed", errorMessage: "The request was attempted 5 times and its worker stopped each time." };
    expect(JSON.parse(geminiBatchFormat.resultLine(batch("chat"), item(crashed)).line).error.code).toBe(10);
    expect(geminiBatchFormat.resultFileNames(batch("chat")).output).toBe("batch-abc.jsonl");
  });
});
