import { describe, expect, it } from "vitest";
import { openAIBatchFormat } from "../../../src/dialects/openai/batch-format.ts";
import { ModelCatalog } from "../../../src/core/model-catalog.ts";
import type { Batch, Item, ItemResult, LineError, RequestKind } from "../../../src/core/types.ts";
import type { ModelConfig } from "../../../src/config/config.ts";

const model = (name: string, kinds?: RequestKind[]): ModelConfig => ({
  name,
  engine: "openai",
  baseUrl: "http://127.0.0.1:1/v1",
  concurrency: 1,
  timeoutMs: 1_000,
  maxRetries: 0,
  ...(kinds ? { kinds } : {}),
});
const catalog = new ModelCatalog([model("gpt-test"), model("other-model"), model("embed-only", ["embedding"])]);

function batchFor(endpoint: string, kind: RequestKind): Batch {
  return {
    id: "batch_abc123", tenant: "default", seq: 1, dialect: "openai", kind, endpoint, model: null, status: "validating",
    inputFileId: "file-in", outputFileId: null, errorFileId: null, invalidLinePolicy: "fail", errors: null,
    counts: { total: 0, succeeded: 0, failed: 0, cancelled: 0, expired: 0 }, reusedItems: 0, usage: { inputTokens: 0, outputTokens: 0 }, charges: { batchNanoUsd: 0, listNanoUsd: 0 },
    displayName: null, metadata: null, options: {}, priority: 0, createdAtMs: 0, updatedAtMs: 0, expiresAtMs: 1,
    inProgressAtMs: null, finalizingAtMs: null, completedAtMs: null, failedAtMs: null, expiredAtMs: null,
    cancellingAtMs: null, cancelledAtMs: null, deletedAtMs: null, archivedAtMs: null,
  };
}
const chatBatch = batchFor("/v1/chat/completions", "chat");

const line = (fields: Record<string, unknown>): string => JSON.stringify(fields);
const chat = (clientId: unknown, body: unknown = { model: "gpt-test", messages: [{ role: "user", content: "hi" }] }) =>
  line({ custom_id: clientId, method: "POST", url: "/v1/chat/completions", body });

/** Parses every line as the worker does (1-based numbers) and returns all errors. */
function errorsOf(lines: string[], batch = chatBatch): LineError[] {
  return lines.flatMap((text, i) => {
    const outcome = openAIBatchFormat.parseLine(text, i + 1, batch, catalog);
    return outcome.ok ? [] : outcome.errors;
  });
}

const triples = (errors: LineError[]) => errors.map((error) => [error.line, error.code, error.param]);

describe("openAIBatchFormat.parseLine", () => {
  it("accepts a good chat line and keeps it so requestBody gives back the body", () => {
    const body = { model: "gpt-test", messages: [{ role: "user", content: "hi" }], max_tokens: 5, response_format: { type: "json_object" } };
    const outcome = openAIBatchFormat.parseLine(chat("req-1", body), 1, chatBatch, catalog);
    expect(outcome).toMatchObject({ ok: true, line: { clientId: "req-1", echo: null, model: "gpt-test", kind: "chat" } });
    if (!outcome.ok) throw new Error("expected a valid line");
    expect(openAIBatchFormat.requestBody(outcome.line.request)).toEqual(body);
  });

  it("accepts embeddings input as a string, strings, tokens and token arrays", () => {
    const batch = batchFor("/v1/embeddings", "embedding");
    const inputs = ["text", ["a", "b"], [1, 2, 3], [[1, 2], [3]]];
    const lines = inputs.map((input, i) => line({ custom_id: `e-${i}`, method: "POST", url: "/v1/embeddings", body: { model: "embed-only", input } }));
    expect(errorsOf(lines, batch)).toEqual([]);
  });

  it("reports every problem of a file of bad lines with its line number, code and param", () => {
    const lines = [
      chat("ok-1"), // 1: fine
      "{not json", // 2
      "[1,2,3]", // 3
      line({ method: "POST", url: "/v1/chat/completions", body: { model: "gpt-test", messages: [{ role: "user", content: "x" }] } }), // 4
      chat(42), // 5
      chat(""), // 6
      line({ custom_id: "m", method: "GET", url: "/v1/chat/completions", body: { model: "gpt-test", messages: [{ role: "user" }] } }), // 7
      line({ custom_id: "u", method: "POST", url: "/v1/embeddings", body: { model: "gpt-test", messages: [{ role: "user" }] } }), // 8
      line({ custom_id: "nourl", method: "POST", body: { model: "gpt-test", messages: [{ role: "user" }] } }), // 9
      line({ custom_id: "b", method: "POST", url: "/v1/chat/completions", body: "text" }), // 10
      line({ custom_id: "nb", method: "POST", url: "/v1/chat/completions" }), // 11
      chat("nm", { messages: [{ role: "user", content: "x" }] }), // 12
      chat("unknown", { model: "no-such-model", messages: [{ role: "user", content: "x" }] }), // 13
      chat("msgs-missing", { model: "gpt-test" }), // 14
      chat("msgs-empty", { model: "gpt-test", messages: [] }), // 15
      chat("msgs-bad", { model: "gpt-test", messages: [{ role: "user", content: "a" }, "str", { content: "c" }, { role: 7, content: {} }] }), // 16
      chat("stream", { model: "gpt-test", messages: [{ role: "user", content: "a" }], stream: true }), // 17
      chat("kind", { model: "embed-only", messages: [{ role: "user", content: "a" }] }), // 18
      chat("msgs-type", { model: "gpt-test", messages: "hello" }), // 19
    ];
    expect(triples(errorsOf(lines))).toEqual([
      [2, "invalid_json_line", null],
      [3, "invalid_line", null],
      [4, "missing_required_parameter", "custom_id"],
      [5, "invalid_type", "custom_id"],
      [6, "invalid_value", "custom_id"],
      [7, "invalid_value", "method"],
      [8, "invalid_url", "url"],
      [9, "missing_required_parameter", "url"],
      [10, "invalid_type", "body"],
      [11, "missing_required_parameter", "body"],
      [12, "invalid_request", "body.model"],
      [13, "model_not_found", "body.model"],
      [14, "invalid_request", "body.messages"],
      [15, "invalid_value", "body.messages"],
      // 16: what is inside a message is the endpoint's to judge: the line runs and fails alone (as at OpenAI).
      [17, "streaming_unsupported", "body.stream"],
      [18, "unsupported_model", "body.model"],
      [19, "invalid_type", "body.messages"],
    ]);
  });

  it("reports several problems of one line together, naming its custom_id", () => {
    const text = line({ custom_id: "multi", method: "PUT", url: "/v1/completions", body: { model: "nope", messages: [] } });
    const outcome = openAIBatchFormat.parseLine(text, 7, chatBatch, catalog);
    expect(outcome.ok).toBe(false);
    if (outcome.ok) return;
    expect(outcome.clientId).toBe("multi");
    expect(triples(outcome.errors)).toEqual([
      [7, "invalid_value", "method"],
      [7, "invalid_url", "url"],
      [7, "model_not_found", "body.model"],
      [7, "invalid_value", "body.messages"],
    ]);
    for (const error of outcome.errors) expect(error.message).toMatch(/^Line 7 \(custom_id "multi"\): /);
    expect(outcome.errors[1]?.message).toContain('"/v1/completions"');
    expect(outcome.errors[1]?.message).toContain("/v1/chat/completions");
    expect(outcome.errors[2]?.message).toContain("Configured models: gpt-test, other-model, embed-only.");
  });

  it("checks input for embeddings and prompt for completions", () => {
    const embeddings = batchFor("/v1/embeddings", "embedding");
    const completions = batchFor("/v1/completions", "completion");
    const emb = (input: unknown) => line({ custom_id: "e", method: "POST", url: "/v1/embeddings", body: { model: "gpt-test", input } });
    const cmp = (body: Record<string, unknown>) => line({ custom_id: "c", method: "POST", url: "/v1/completions", body: { model: "gpt-test", ...body } });
    expect(triples(errorsOf([emb(undefined), emb(""), emb([]), emb(["a", 1]), emb({ text: "x" })], embeddings))).toEqual([
      [1, "invalid_request", "body.input"],
      [2, "invalid_value", "body.input"],
      [3, "invalid_value", "body.input"],
      [4, "invalid_type", "body.input"],
      [5, "invalid_type", "body.input"],
    ]);
    expect(triples(errorsOf([cmp({}), cmp({ prompt: "Once" }), cmp({ prompt: [[1, 2]] }), cmp({ prompt: 5 })], completions))).toEqual([
      [1, "invalid_request", "body.prompt"],
      [4, "invalid_type", "body.prompt"],
    ]);
  });
});

describe("openAIBatchFormat cross-line errors", () => {
  it("names the first line of a duplicate custom_id", () => {
    const error = openAIBatchFormat.duplicateIdError("req-1", 9, 2);
    expect(error).toMatchObject({ line: 9, code: "duplicate_custom_id", param: "custom_id" });
    expect(error.message).toContain("line 2");
  });

  it("reports a model different from the first line's, and nothing for the first or the same", () => {
    expect(openAIBatchFormat.modelMismatchError?.("gpt-test", null, 1)).toBeNull();
    expect(openAIBatchFormat.modelMismatchError?.("gpt-test", "gpt-test", 2)).toBeNull();
    const error = openAIBatchFormat.modelMismatchError?.("other-model", "gpt-test", 3);
    expect(error).toMatchObject({ line: 3, code: "model_mismatch", param: "body.model" });
    expect(error?.message).toContain("other-model");
    expect(error?.message).toContain("gpt-test");
  });

  it("turns the errors of an invalid line into an invalid_request result", () => {
    const result = openAIBatchFormat.invalidLineResult([{ line: 3, code: "x", param: null, message: "Line 3: bad." }], 123);
    expect(result).toMatchObject({ statusCode: null, body: null, errorCode: "invalid_request", errorMessage: "Line 3: bad.", finishedAtMs: 123 });
  });
});

describe("openAIBatchFormat.resultLine", () => {
  const result = (fields: Partial<ItemResult>): ItemResult => ({
    statusCode: null, body: null, errorCode: null, errorMessage: null, requestId: null,
    usage: { inputTokens: 0, outputTokens: 0 }, finishedAtMs: 0, ...fields,
  });
  const item = (index: number, itemResult: ItemResult): Item => ({
    batchId: chatBatch.id, index, clientId: `req-${index}`, echo: null, model: "gpt-test", kind: "chat",
    status: "succeeded", attempts: 1, result: itemResult,
  });

  it("writes a success to the output file with the stored body spliced in", () => {
    const body = { id: "chatcmpl-1", object: "chat.completion", choices: [{ index: 0, message: { role: "assistant", content: "Hello \"there\"\u2028" } }] };
    const out = openAIBatchFormat.resultLine(chatBatch, item(4, result({ statusCode: 200, body: JSON.stringify(body), requestId: "req_up_1" })));
    expect(out.target).toBe("output");
    expect(out.line).not.toContain("\n");
    expect(JSON.parse(out.line)).toEqual({
      id: "batch_req_abc123_4",
      custom_id: "req-4",
      response: { status_code: 200, request_id: "req_up_1", body },
      error: null,
    });
  });

  it("writes an upstream HTTP failure to the error file with its status and body, error null", () => {
    const body = { error: { message: "Invalid value for 'temperature'.", type: "invalid_request_error", param: "temperature", code: null } };
    const out = openAIBatchFormat.resultLine(chatBatch, item(1, result({ statusCode: 400, body: JSON.stringify(body) })));
    expect(out.target).toBe("error");
    const parsed = JSON.parse(out.line) as { id: string; response: { status_code: number; request_id: string; body: unknown }; error: unknown };
    expect(parsed.response.status_code).toBe(400);
    expect(parsed.response.body).toEqual(body);
    expect(typeof parsed.response.request_id).toBe("string");
    expect(parsed.error).toBeNull();
  });

  it("writes a request that never ran to the error file with response null", () => {
    const out = openAIBatchFormat.resultLine(chatBatch, item(2, result({ errorCode: "batch_cancelled", errorMessage: "The batch was cancelled before this request ran." })));
    expect(out.target).toBe("error");
    expect(JSON.parse(out.line)).toEqual({
      id: "batch_req_abc123_2",
      custom_id: "req-2",
      response: null,
      error: { code: "batch_cancelled", message: "The batch was cancelled before this request ran." },
    });
  });

  it("re-serializes a stored body that contains raw newlines so the JSONL line stays one line", () => {
    const out = openAIBatchFormat.resultLine(chatBatch, item(0, result({ statusCode: 200, body: '{\n  "a": 1\n}' })));
    expect(out.line).not.toContain("\n");
    expect((JSON.parse(out.line) as { response: { body: unknown } }).response.body).toEqual({ a: 1 });
  });

  it("is deterministic for the same Batch and index", () => {
    const first = openAIBatchFormat.resultLine(chatBatch, item(7, result({ statusCode: 200, body: "{}" })));
    const second = openAIBatchFormat.resultLine(chatBatch, item(7, result({ statusCode: 200, body: "{}" })));
    expect(first).toEqual(second);
  });

  it("names result files after the batch", () => {
    expect(openAIBatchFormat.resultFileNames(chatBatch)).toEqual({ output: "batch_abc123_output.jsonl", error: "batch_abc123_error.jsonl" });
  });
});
