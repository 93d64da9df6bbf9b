import OpenAI, { toFile } from "openai";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startOpenAITestServer, type OpenAITestServer } from "./openai-test-server.ts";

const LINE = JSON.stringify({ custom_id: "r1", method: "POST", url: "/v1/chat/completions", body: { model: "gpt-test", messages: [{ role: "user", content: "hi" }] } });

describe("OpenAI Batches API", () => {
  let spool: OpenAITestServer;
  let client: OpenAI;
  let inputFileId: string;

  beforeAll(async () => {
    spool = await startOpenAITestServer({ label: "openai-batches" });
    client = spool.client;
    inputFileId = (await client.files.create({ file: await toFile(Buffer.from(`${LINE}\n`), "in.jsonl"), purpose: "batch" })).id;
  });
  afterAll(async () => spool?.close());

  const create = (overrides: Partial<OpenAI.Batches.BatchCreateParams> = {}) =>
    client.batches.create({ input_file_id: inputFileId, endpoint: "/v1/chat/completions", completion_window: "24h", ...overrides });

  it("creates a batch in validating with every field the SDK types, and wakes the workers", async () => {
    const wakeupsBefore = spool.wakeups();
    const batch = await create({ metadata: { job: "nightly" } });
    expect(batch).toEqual({
      id: expect.stringMatching(/^batch_[a-z0-9]+$/),
      object: "batch",
      endpoint: "/v1/chat/completions",
      model: null,
      errors: null,
      input_file_id: inputFileId,
      completion_window: "24h",
      status: "validating",
      output_file_id: null,
      error_file_id: null,
      created_at: expect.any(Number),
      in_progress_at: null,
      expires_at: batch.created_at + 86_400,
      finalizing_at: null,
      completed_at: null,
      failed_at: null,
      expired_at: null,
      cancelling_at: null,
      cancelled_at: null,
      request_counts: { total: 0, completed: 0, failed: 0 },
      usage: { input_tokens: 0, input_tokens_details: { cached_tokens: 0 }, output_tokens: 0, output_tokens_details: { reasoning_tokens: 0 }, total_tokens: 0 },
      metadata: { job: "nightly" },
    });
    expect(spool.wakeups()).toBe(wakeupsBefore + 1);
    expect(await client.batches.retrieve(batch.id)).toEqual(batch);
    const stored = await spool.store.getBatch(batch.id);
    expect(stored).toMatchObject({ dialect: "openai", kind: "chat", invalidLinePolicy: "fail", inputFileId });
  });

  it("keeps embeddings and completions kinds and the output expiry", async () => {
    const embeddings = await create({ endpoint: "/v1/embeddings", output_expires_after: { anchor: "created_at", seconds: 7200 } });
    expect(await spool.store.getBatch(embeddings.id)).toMatchObject({ kind: "embedding", options: { outputExpiresAfterMs: 7_200_000 } });
    const completions = await create({ endpoint: "/v1/completions", completion_window: "48h" as "24h" });
    expect(completions.completion_window).toBe("48h");
    expect(completions.expires_at).toBe(completions.created_at + 48 * 3600);
    expect((await spool.store.getBatch(completions.id))?.kind).toBe("completion");
  });

  it("takes any duration as the completion window (an extension) and keeps it as the batch's deadline", async () => {
    for (const [window, seconds] of [["90m", 5_400], ["7d", 604_800], ["1h30m", 5_400], ["45s", 45]] as const) {
      const batch = await create({ completion_window: window as "24h" });
      expect(batch.completion_window).toBe(window);
      expect(batch.expires_at).toBe(batch.created_at + seconds);
    }
  });

  it("takes a priority from the extension field, else from metadata.priority, else 0", async () => {
    const field = await client.post<OpenAI.Batches.Batch>("/batches", { body: { input_file_id: inputFileId, endpoint: "/v1/chat/completions", completion_window: "24h", priority: 7, metadata: { priority: "2" } } });
    const fromMetadata = await create({ metadata: { priority: "-3" } });
    const none = await create();
    expect((await spool.store.getBatch(field.id))?.priority).toBe(7);
    expect((await spool.store.getBatch(fromMetadata.id))?.priority).toBe(-3);
    expect(fromMetadata.metadata).toEqual({ priority: "-3" });
    expect((await spool.store.getBatch(none.id))?.priority).toBe(0);
  });

  it("rejects bad create requests naming the field", async () => {
    const notBatch = await client.files.create({ file: await toFile(Buffer.from(LINE), "x.jsonl"), purpose: "user_data" });
    await expect(create({ input_file_id: notBatch.id })).rejects.toMatchObject({ status: 400, param: "input_file_id" });
    // OpenAI's wording and code, captured from the real API.
    const endpoint = create({ endpoint: "/v1/invalid/endpoint" as "/v1/responses" });
    await expect(endpoint).rejects.toBeInstanceOf(OpenAI.BadRequestError);
    await expect(endpoint).rejects.toMatchObject({ param: "endpoint", code: "invalid_value", message: expect.stringContaining("Invalid value: '/v1/invalid/endpoint'. Supported values are: '/v1/chat/completions', '/v1/responses'") });
    await expect(create({ metadata: { tags: ["a", "b"] as unknown as string } })).rejects.toMatchObject({
      status: 400,
      param: "metadata.tags",
      code: "invalid_type",
      message: expect.stringContaining("Invalid type for 'metadata.tags': expected a string, but got an array instead."),
    });
    for (const window of ["1y", "0h", "1.5h", "24", "721h", "31d"]) {
      await expect(create({ completion_window: window as "24h" })).rejects.toMatchObject({ status: 400, param: "completion_window" });
    }
    await expect(create({ completion_window: "soon" as "24h" })).rejects.toMatchObject({ message: expect.stringContaining('a duration like "24h", "90m", "7d"') });
    await expect(client.post("/batches", { body: { input_file_id: inputFileId, endpoint: "/v1/chat/completions", completion_window: "24h", priority: 1.5 } })).rejects.toMatchObject({ status: 400, param: "priority" });
    await expect(create({ metadata: { priority: "high" } })).rejects.toMatchObject({ status: 400, param: "metadata.priority", message: expect.stringContaining('found "high"') });
    const tooMany = Object.fromEntries(Array.from({ length: 17 }, (_, i) => [`k${i}`, "v"]));
    await expect(create({ metadata: tooMany })).rejects.toMatchObject({ status: 400, param: "metadata" });
    await expect(create({ metadata: { ["k".repeat(65)]: "v" } })).rejects.toMatchObject({ status: 400, param: `metadata.${"k".repeat(65)}` });
    await expect(create({ metadata: { job: "v".repeat(513) } })).rejects.toMatchObject({ status: 400, param: "metadata.job" });
    await expect(create({ output_expires_after: { anchor: "created_at", seconds: 60 } })).rejects.toMatchObject({ status: 400, param: "output_expires_after.seconds" });
    await expect(client.post("/batches", { body: { input_file_id: inputFileId, endpoint: "/v1/chat/completions", completion_window: "24h", colour: "red" } })).rejects.toMatchObject({
      status: 400,
      param: "colour",
    });
    await expect(client.post("/batches", { body: { endpoint: "/v1/chat/completions", completion_window: "24h" } })).rejects.toMatchObject({
      status: 400,
      param: "input_file_id",
    });
  });

  it("lists only OpenAI batches, newest first, through the SDK's auto-pagination", async () => {
    const gemini = await spool.store.createBatch({
      id: "batch_geminionly", dialect: "gemini", kind: "chat", endpoint: "generateContent", model: "gpt-test", inputFileId: null,
      invalidLinePolicy: "skip", displayName: null, metadata: null, options: {}, priority: 0, createdAtMs: Date.now(), expiresAtMs: Date.now() + 1000,
    });
    const created = [await create(), await create(), await create()];
    const page = await client.batches.list({ limit: 2 });
    expect(page.data.map((batch) => batch.id)).toEqual([created[2]?.id, created[1]?.id]);
    expect(page.has_more).toBe(true);
    const all: string[] = [];
    for await (const batch of client.batches.list({ limit: 2 })) all.push(batch.id);
    expect(all.slice(0, 3)).toEqual(created.map((batch) => batch.id).reverse());
    expect(all).not.toContain(gemini.id);
    expect(new Set(all).size).toBe(all.length);
    await expect(client.batches.list({ limit: 101 })).rejects.toMatchObject({ status: 400, param: "limit" });
  });

  it("cancels a validating batch, idempotently while cancelling", async () => {
    const batch = await create();
    const cancelling = await client.batches.cancel(batch.id);
    expect(cancelling.status).toBe("cancelling");
    expect(cancelling.cancelling_at).toBeGreaterThanOrEqual(batch.created_at);
    expect((await client.batches.cancel(batch.id)).status).toBe("cancelling");
  });

  it("answers 404 for unknown batches", async () => {
    await expect(client.batches.retrieve("batch_nope")).rejects.toMatchObject({ status: 404, param: "batch_id" });
    await expect(client.batches.cancel("batch_nope")).rejects.toMatchObject({ status: 404 });
  });

  it("serves live progress on the extension endpoint", async () => {
    const batch = await create();
    const response = await fetch(`${spool.url}/v1/batches/${batch.id}/progress`);
    expect(response.status).toBe(200);
    expect(await response.json()).toMatchObject({
      id: batch.id,
      object: "batch.progress",
      status: "validating",
      request_counts: { total: 0, pending: 0, succeeded: 0, failed: 0, cancelled: 0, expired: 0 },
      requests_per_second: null,
      eta_seconds: null,
      // Validating, on a Model no Worker has measured yet: it would have the Model to itself, when unknown.
      schedule: { priority: 0, deadline_at: batch.expires_at, estimated_completion_at: null, meets_deadline: null, share: 1, waiting_until: null },
    });
  });

  it("accepts batches/<id> names on the /v1beta/openai surface", async () => {
    const batch = await spool.compatClient.batches.create({ input_file_id: `files/${inputFileId}`, endpoint: "/v1/chat/completions", completion_window: "24h" });
    expect(batch.input_file_id).toBe(inputFileId);
    expect((await spool.compatClient.batches.retrieve(`batches/${batch.id}`)).id).toBe(batch.id);
    const token = batch.id.slice("batch_".length);
    expect((await spool.compatClient.batches.retrieve(`batches/${token}`)).id).toBe(batch.id);
    const cancel = await fetch(`${spool.url}/v1beta/openai/batches/batches/${token}/cancel`, { method: "POST" });
    expect(((await cancel.json()) as { status: string }).status).toBe("cancelling");
  });
});

describe("OpenAI Batches API on a finished batch", () => {
  let spool: OpenAITestServer;
  let client: OpenAI;

  beforeAll(async () => {
    spool = await startOpenAITestServer({ label: "openai-batches-failed" });
    client = spool.client;
  });
  afterAll(async () => spool?.close());

  it("answers 409 with x-should-retry false when cancelling a finished batch, and shows its errors", async () => {
    const file = await client.files.create({ file: await toFile(Buffer.from(`${LINE}\n{not json\n`), "bad.jsonl"), purpose: "batch" });
    const batch = await client.batches.create({ input_file_id: file.id, endpoint: "/v1/chat/completions", completion_window: "24h" });
    // Fail it the way validation does when the input is bad (no Worker runs here).
    const claimed = await spool.store.claimValidation({ owner: "test", nowMs: Date.now(), leaseMs: 600_000 });
    expect(claimed?.id).toBe(batch.id);
    const errors = [{ line: 3, code: "invalid_json_line", param: null, message: "Line 3 is not valid JSON." }];
    await spool.store.failBatch(batch.id, { owner: "test", errors, nowMs: Date.now() });
    const failed = await client.batches.retrieve(batch.id);
    expect(failed.status).toBe("failed");
    expect(failed.failed_at).toEqual(expect.any(Number));
    expect(failed.errors).toEqual({ object: "list", data: [{ code: "invalid_json_line", message: "Line 3 is not valid JSON.", param: null, line: 3 }] });
    const response = await fetch(`${spool.url}/v1/batches/${batch.id}/cancel`, { method: "POST" });
    expect(response.status).toBe(409);
    expect(response.headers.get("x-should-retry")).toBe("false");
    expect(await response.json()).toEqual({
      error: { message: "Cannot cancel a batch with status 'failed'.", type: "invalid_request_error", param: "batch_id", code: "conflict" },
    });
    await expect(client.batches.cancel(batch.id)).rejects.toBeInstanceOf(OpenAI.ConflictError);
  });
});
