import { describe, expect, it } from "vitest";
import { cancelledResult, expiredResult } from "../../../src/core/batch-format.ts";
import { ModelCatalog } from "../../../src/core/model-catalog.ts";
import type { Batch, BatchStatus, Item, ItemResult } from "../../../src/core/types.ts";
import { anthropicBatchFormat } from "../../../src/dialects/anthropic/batch-format.ts";
import { readArrayField } from "../../../src/core/json-array-stream.ts";
import { CreateBodyChecker } from "../../../src/dialects/anthropic/create-body.ts";
import { requestCountsOf, toMessageBatch } from "../../../src/dialects/anthropic/mappers.ts";
import { sniffDialect } from "../../../src/dialects/registry.ts";

const catalog = new ModelCatalog([
  { name: "claude", engine: "openai", baseUrl: "http://127.0.0.1:1/v1", concurrency: 1, timeoutMs: 1, maxRetries: 0 },
  { name: "embedder", engine: "openai", baseUrl: "http://127.0.0.1:1/v1", concurrency: 1, timeoutMs: 1, maxRetries: 0, kinds: ["embedding"] },
]);

function batch(overrides: Partial<Batch> = {}): Batch {
  return {
    id: "msgbatch_abc", tenant: "default", seq: 1, dialect: "anthropic", kind: "chat", endpoint: "/v1/messages", model: null, status: "validating",
    inputFileId: "file-in", outputFileId: null, errorFileId: null, invalidLinePolicy: "skip", errors: null,
    counts: { total: 0, succeeded: 0, failed: 0, cancelled: 0, expired: 0 }, reusedItems: 0, usage: { inputTokens: 0, outputTokens: 0 }, charges: { batchNanoUsd: 0, listNanoUsd: 0 },
    displayName: null, metadata: null, options: { inline: true, requestCount: 4 }, priority: 0, createdAtMs: 1_700_000_000_000, updatedAtMs: 0, expiresAtMs: 1_700_086_400_000,
    inProgressAtMs: null, finalizingAtMs: null, completedAtMs: null, failedAtMs: null, expiredAtMs: null,
    cancellingAtMs: null, cancelledAtMs: null, deletedAtMs: null, archivedAtMs: null,
    ...overrides,
  };
}

function item(result: ItemResult | null): Item {
  return { batchId: "msgbatch_abc", index: 0, clientId: "r1", echo: null, model: "claude", kind: "chat", status: "failed", attempts: 1, result };
}

const line = (value: unknown): string => JSON.stringify(value);
const params = { model: "claude", max_tokens: 10, messages: [{ role: "user", content: "hi" }] };

describe("anthropicBatchFormat lines", () => {
  it("keeps the line as the request and hands the engine its params", () => {
    const outcome = anthropicBatchFormat.parseLine(line({ custom_id: "r1", params }), 1, batch(), catalog);
    expect(outcome).toMatchObject({ ok: true, line: { clientId: "r1", model: "claude", kind: "chat", body: params } });
    if (outcome.ok) expect(anthropicBatchFormat.requestBody(outcome.line.request)).toEqual(params);
  });

  it("names every bad field of an inline request by its path in the create body", () => {
    const bad = { model: "embedder", messages: [{ role: "user", content: [{ type: "text" }] }], temperature: 3, stream: true };
    const outcome = anthropicBatchFormat.parseLine(line({ custom_id: "r2", params: bad }), 3, batch(), catalog);
    if (outcome.ok) throw new Error("must be invalid");
    expect(outcome.clientId).toBe("r2");
    expect(outcome.errors.map((error) => error.message)).toEqual([
      "requests.2.params.model: Model 'embedder' does not serve messages (chat).",
      "requests.2.params.max_tokens: Field required: the most tokens to generate (an integer of at least 1).",
      "requests.2.params.messages.0.content.0.text: must be a string, found nothing.",
      "requests.2.params.temperature: must be between 0 and 1, found 3.",
      "requests.2.params.stream: streaming is not available for batch requests; remove 'stream'.",
    ]);
    expect(outcome.errors.map((error) => error.param)).toEqual(["params.model", "params.max_tokens", "params.messages.0.content.0.text", "params.temperature", "params.stream"]);
  });

  it("names lines of a file by number and custom_id, and refuses ids outside the documented form", () => {
    const file = batch({ options: {} });
    const noMax = anthropicBatchFormat.parseLine(line({ custom_id: "r1", params: { ...params, max_tokens: 0 } }), 7, file, catalog);
    expect(noMax).toMatchObject({ ok: false, errors: [{ line: 7, message: 'Line 7 (custom_id "r1"): params.max_tokens: must be at least 1, found 0.' }] });
    const badId = anthropicBatchFormat.parseLine(line({ custom_id: "a".repeat(65), params, extra: 1 }), 2, file, catalog);
    expect(badId).toMatchObject({ ok: false, clientId: null });
    if (!badId.ok) expect(badId.errors.map((error) => error.param)).toEqual(["custom_id", "extra"]);
  });

  it("stores a bad request's result as the errored envelope the service gives", () => {
    const result = anthropicBatchFormat.invalidLineResult([{ line: 1, code: "x", param: "params.max_tokens", message: "requests.0.params.max_tokens: Field required" }], 5);
    expect(anthropicBatchFormat.resultLine(batch(), item(result)).line).toBe(
      '{"custom_id":"r1","result":{"type":"errored","error":{"type":"error","error":{"type":"invalid_request_error","message":"requests.0.params.max_tokens: Field required"},"request_id":null}}}',
    );
  });

  it("recognises its lines before OpenAI's, which share custom_id", () => {
    expect(sniffDialect({ custom_id: "a", params })).toMatchObject({ format: anthropicBatchFormat, endpoint: "/v1/messages", kind: "chat" });
    expect(sniffDialect({ custom_id: "a", method: "POST", url: "/v1/chat/completions", body: {} })?.format.dialect).toBe("openai");
  });
});

describe("anthropicBatchFormat results", () => {
  const ok = (body: unknown): ItemResult => ({ statusCode: 200, body: JSON.stringify(body), errorCode: null, errorMessage: null, requestId: "r", usage: { inputTokens: 1, outputTokens: 1 }, finishedAtMs: 0 });
  const resultOf = (result: ItemResult | null): unknown => (JSON.parse(anthropicBatchFormat.resultLine(batch(), item(result)).line) as { result: unknown }).result;

  it("writes succeeded, canceled, expired and errored results", () => {
    expect(resultOf(ok({ type: "message", id: "msg_1" }))).toEqual({ type: "succeeded", message: { type: "message", id: "msg_1" } });
    expect(resultOf(cancelledResult(1))).toEqual({ type: "errored", error: { type: "error", error: { type: "api_error", message: expect.stringMatching(/cancelled/) }, request_id: null } });
    expect(JSON.parse(anthropicBatchFormat.resultLine(batch(), { ...item(cancelledResult(1)), status: "cancelled" }).line)).toMatchObject({ result: { type: "canceled" } });
    expect(resultOf(expiredResult(1))).toEqual({ type: "expired" });
    const upstream = { type: "error", error: { type: "overloaded_error", message: "Overloaded" }, request_id: "req_up" };
    expect(resultOf({ ...ok(upstream), statusCode: 529 })).toEqual({ type: "errored", error: upstream });
    const timeout: ItemResult = { ...ok(null), statusCode: null, body: null, errorCode: "request_timeout", errorMessage: "took too long", requestId: null };
    expect(resultOf(timeout)).toEqual({ type: "errored", error: { type: "error", error: { type: "timeout_error", message: "took too long" }, request_id: null } });
    // An OpenAI-shaped body that reached the Item untranslated keeps its message under Anthropic's envelope.
    expect(resultOf({ ...ok({ error: { message: "nope", type: "x" } }), statusCode: 404 })).toMatchObject({ type: "errored", error: { error: { type: "not_found_error", message: "nope" } } });
    expect(resultOf(null)).toMatchObject({ type: "errored", error: { error: { type: "api_error" } } });
  });
});

describe("Message Batch objects", () => {
  const at = (status: BatchStatus, overrides: Partial<Batch> = {}) => toMessageBatch(batch({ status, ...overrides }), "http://h/r");

  it("folds spool's lifecycle onto in_progress, canceling and ended, with results_url only once ended", () => {
    expect(at("validating")).toMatchObject({ processing_status: "in_progress", results_url: null, request_counts: { processing: 4 } });
    expect(at("finalizing")).toMatchObject({ processing_status: "in_progress", results_url: null });
    expect(at("cancelling", { cancellingAtMs: 1_700_000_001_000 })).toMatchObject({ processing_status: "canceling", cancel_initiated_at: "2023-11-14T22:13:21.000Z" });
    expect(at("finalizing", { cancellingAtMs: 1 })).toMatchObject({ processing_status: "canceling" });
    expect(at("completed", { completedAtMs: 1_700_000_002_000 })).toMatchObject({ processing_status: "ended", results_url: "http://h/r", ended_at: "2023-11-14T22:13:22.000Z" });
    expect(at("expired", { expiredAtMs: 5 })).toMatchObject({ processing_status: "ended", ended_at: new Date(5).toISOString() });
    expect(at("completed")).toMatchObject({ created_at: "2023-11-14T22:13:20.000Z", expires_at: "2023-11-15T22:13:20.000Z", archived_at: null });
  });

  it("keeps request_counts summing to the requests, a failed batch's unrun ones errored", () => {
    const running = batch({ status: "in_progress", counts: { total: 4, succeeded: 1, failed: 1, cancelled: 0, expired: 1 } });
    expect(requestCountsOf(running)).toEqual({ processing: 1, succeeded: 1, errored: 1, canceled: 0, expired: 1 });
    expect(requestCountsOf(batch({ status: "failed" }))).toEqual({ processing: 0, succeeded: 0, errored: 4, canceled: 0, expired: 0 });
  });
});

/** The create body checked as the route does, fed in 7-byte chunks. */
async function checkCreateBody(body: unknown, maxRequests: number): Promise<{ lines: string[]; problems: { param: string; message: string }[] }> {
  const text = Buffer.from(JSON.stringify(body));
  const chunks = Array.from({ length: Math.ceil(text.length / 7) }, (_, i) => text.subarray(i * 7, i * 7 + 7));
  const checker = new CreateBodyChecker({ maxRequests, maxRequestBytes: 1_000 });
  const lines: string[] = [];
  for await (const event of readArrayField((async function* () { yield* chunks; })(), "requests", { maxElementBytes: 1_000 })) {
    const taken = checker.take(event);
    if (taken !== null) lines.push(taken);
  }
  return { lines, problems: checker.finish() };
}

describe("create body", () => {
  it("becomes one line per request, or every structural problem by path", async () => {
    expect(await checkCreateBody({ requests: [{ custom_id: "a", params }] }, 10)).toEqual({ lines: [line({ custom_id: "a", params })], problems: [] });
    const checked = await checkCreateBody({ requests: [{ custom_id: "a", params }, { custom_id: "a", params: [] }, "x", { custom_id: "b", params: { big: "y".repeat(2_000) } }], extra: true }, 10);
    expect(checked.problems).toEqual([
      { param: "requests.1.custom_id", message: "requests.1.custom_id: duplicate value 'a' (also used by requests.0); each custom_id must be unique within the batch." },
      { param: "requests.1.params", message: "requests.1.params: must be an object, found an array." },
      { param: "requests.2", message: 'requests.2: must be an object like {"custom_id": "...", "params": {...}}, found a string.' },
      { param: "requests.3", message: expect.stringMatching(/^requests\.3: is 20\d\d bytes long; the limit for one request is 1000 bytes\.$/) },
      { param: "extra", message: "extra: Extra inputs are not permitted." },
    ]);
    expect((await checkCreateBody({ requests: [{ custom_id: "a", params }, { custom_id: "b", params }] }, 1)).problems).toEqual([{ param: "requests", message: "requests: the batch has 2 requests; the limit is 1." }]);
    expect((await checkCreateBody({ requests: [] }, 1)).problems).toMatchObject([{ message: "requests: must be a non-empty list of requests, found an empty list." }]);
    expect((await checkCreateBody({ requests: {} }, 1)).problems).toMatchObject([{ message: "requests: must be a non-empty list of requests." }]);
    expect((await checkCreateBody({}, 1)).problems).toMatchObject([{ message: expect.stringMatching(/^requests: Field required/) }]);
  });
});
