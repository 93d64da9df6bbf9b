/**
 * Issue 13: quotas per tenant and idempotent Batch create, through each dialect's real SDK, on every Store.
 * A quota exceeded is refused with the dialect's own error (429 or 413) naming the limit, and nothing already
 * accepted is lost. Workers are off, so Batches stay in progress (validating) for as long as the test needs.
 */
import Anthropic from "@anthropic-ai/sdk";
import { GoogleGenAI, type ApiError } from "@google/genai";
import { writeFileSync } from "node:fs";
import path from "node:path";
import OpenAI, { toFile } from "openai";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { chatLine } from "../helpers/batch-files.ts";
import { startFakeOpenAIUpstream, type FakeOpenAIUpstream } from "../helpers/fake-openai-upstream.ts";
import { TEST_DATABASE_URL, freshTestSchema } from "../helpers/postgres.ts";
import { startTestApp, type TestApp } from "../helpers/spool-app.ts";
import { storeBackends } from "../helpers/store-backends.ts";

const TENANTS = [
  { name: "files", keys: ["files-key-000000"], quotas: { maxFileBytes: 400, maxStoredBytes: 600 } },
  { name: "batches", keys: ["batches-key-000000"], quotas: { maxBatchesInProgress: 1 } },
  { name: "items", keys: ["items-key-000000"], quotas: { maxQueuedItems: 3 } },
  { name: "sync", keys: ["sync-key-000000"], quotas: { syncRequestsPerMinute: 2 } },
  { name: "alpha", keys: ["alpha-key-000000"] },
  { name: "beta", keys: ["beta-key-000000"] },
];
const keyOf = (tenant: string): string => TENANTS.find((entry) => entry.name === tenant)?.keys[0] ?? "";

const jsonl = (count: number, prefix = "r"): Buffer => Buffer.from(Array.from({ length: count }, (_, i) => chatLine(`${prefix}${i}`, `question ${i}`, "m")).join("\n"));
const messageRequest = (id: string) => ({ custom_id: id, params: { model: "m", max_tokens: 4, messages: [{ role: "user" as const, content: "hi" }] } });

describe.each(storeBackends.map((backend) => backend.name))("tenant quotas and idempotent create (%s store)", (backend) => {
  let upstream: FakeOpenAIUpstream;
  let spool: TestApp;
  const openai = (tenant: string) => new OpenAI({ apiKey: keyOf(tenant), baseURL: spool.openaiBaseUrl, maxRetries: 0 });
  const anthropic = (tenant: string) => new Anthropic({ apiKey: keyOf(tenant), baseURL: spool.url, maxRetries: 0 });
  const gemini = (tenant: string) => new GoogleGenAI({ apiKey: keyOf(tenant), httpOptions: { baseUrl: spool.url } });

  beforeAll(async () => {
    upstream = await startFakeOpenAIUpstream();
    let databaseUrl: string | undefined;
    if (backend === "postgres") {
      const url = new URL(TEST_DATABASE_URL);
      url.searchParams.set("schema", await freshTestSchema(`tenancy quotas ${backend}`));
      databaseUrl = url.toString();
    }
    spool = await startTestApp({ models: [{ name: "m", engine: "openai", baseUrl: upstream.url }], tenants: TENANTS, ...(databaseUrl ? { databaseUrl } : {}) }, { label: `tenancy-quotas-${backend}`, workers: false });
  }, 60_000);
  afterAll(async () => {
    await spool?.stop();
    await upstream?.close();
  });

  it("refuses a file over maxFileBytes (413) and uploads past maxStoredBytes (429), keeping what was stored", async () => {
    const client = openai("files");
    const big = await client.files.create({ file: await toFile(Buffer.alloc(500, "x"), "big.jsonl"), purpose: "user_data" }).catch((error: unknown) => error);
    expect(big).toBeInstanceOf(OpenAI.APIError);
    expect((big as InstanceType<typeof OpenAI.APIError>).status).toBe(413);
    expect((big as Error).message).toContain("maxFileBytes");
    const local = path.join(spool.dataDir, "big-gemini.jsonl");
    writeFileSync(local, Buffer.alloc(500, "x"));
    const viaGemini = await gemini("files").files.upload({ file: local, config: { mimeType: "jsonl" } }).catch((error: unknown) => error);
    expect((viaGemini as ApiError).status).toBe(413);
    expect((viaGemini as Error).message).toContain("maxFileBytes");

    const first = await client.files.create({ file: await toFile(jsonl(2), "a.jsonl"), purpose: "batch" });
    expect(first.bytes).toBeGreaterThan(300);
    const second = await client.files.create({ file: await toFile(jsonl(2, "s"), "b.jsonl"), purpose: "batch" }).catch((error: unknown) => error);
    expect(second).toBeInstanceOf(OpenAI.RateLimitError);
    expect((second as Error).message).toContain("maxStoredBytes");
    expect((await client.files.list()).data.map((file) => file.id)).toEqual([first.id]);
  });

  it("refuses a batch past maxBatchesInProgress in every dialect, naming the quota; the first keeps running", async () => {
    const first = await anthropic("batches").messages.batches.create({ requests: [messageRequest("a")] });
    const viaAnthropic = await anthropic("batches").messages.batches.create({ requests: [messageRequest("b")] }).catch((error: unknown) => error);
    expect(viaAnthropic).toBeInstanceOf(Anthropic.RateLimitError);
    expect((viaAnthropic as Error).message).toContain("maxBatchesInProgress");
    const file = await openai("batches").files.create({ file: await toFile(jsonl(1), "one.jsonl"), purpose: "batch" });
    const viaOpenAI = await openai("batches").batches.create({ input_file_id: file.id, endpoint: "/v1/chat/completions", completion_window: "24h" }).catch((error: unknown) => error);
    expect(viaOpenAI).toBeInstanceOf(OpenAI.RateLimitError);
    expect((viaOpenAI as Error).message).toContain("maxBatchesInProgress");
    const viaGemini = await gemini("batches").batches.create({ model: "m", src: [{ contents: "hi" }] }).catch((error: unknown) => error);
    expect((viaGemini as ApiError).status).toBe(429);
    expect((viaGemini as Error).message).toContain("RESOURCE_EXHAUSTED");
    expect((await anthropic("batches").messages.batches.list()).data.map((batch) => batch.id)).toEqual([first.id]);
  });

  it("counts queued items against maxQueuedItems, for file and inline batches", async () => {
    const client = openai("items");
    const four = await client.files.create({ file: await toFile(jsonl(4), "four.jsonl"), purpose: "batch" });
    const tooMany = await client.batches.create({ input_file_id: four.id, endpoint: "/v1/chat/completions", completion_window: "24h" }).catch((error: unknown) => error);
    expect(tooMany).toBeInstanceOf(OpenAI.RateLimitError);
    expect((tooMany as Error).message).toContain("maxQueuedItems");
    const two = await client.files.create({ file: await toFile(jsonl(2), "two.jsonl"), purpose: "batch" });
    const accepted = await client.batches.create({ input_file_id: two.id, endpoint: "/v1/chat/completions", completion_window: "24h" });
    // Two queued (still validating): two more inline requests would make four.
    const inline = await anthropic("items").messages.batches.create({ requests: [messageRequest("x"), messageRequest("y")] }).catch((error: unknown) => error);
    expect(inline).toBeInstanceOf(Anthropic.RateLimitError);
    expect((inline as Error).message).toContain("maxQueuedItems");
    expect((await anthropic("items").messages.batches.create({ requests: [messageRequest("z")] })).id).toMatch(/^msgbatch_/);
    expect((await client.batches.retrieve(accepted.id)).status).toBe("validating");
  });

  it("limits sync requests per minute with a 429 naming syncRequestsPerMinute", async () => {
    const client = openai("sync");
    for (let i = 0; i < 2; i += 1) {
      const reply = await client.chat.completions.create({ model: "m", messages: [{ role: "user", content: `hello ${i}` }] });
      expect(reply.choices).toHaveLength(1);
    }
    const third = await client.chat.completions.create({ model: "m", messages: [{ role: "user", content: "again" }] }).catch((error: unknown) => error);
    expect(third).toBeInstanceOf(OpenAI.RateLimitError);
    expect((third as Error).message).toContain("syncRequestsPerMinute");
    const viaAnthropic = await anthropic("sync").messages.create({ model: "m", max_tokens: 4, messages: [{ role: "user", content: "hi" }] }).catch((error: unknown) => error);
    expect(viaAnthropic).toBeInstanceOf(Anthropic.RateLimitError);
    // Another tenant is not limited by this one's quota.
    expect((await openai("alpha").chat.completions.create({ model: "m", messages: [{ role: "user", content: "free" }] })).choices).toHaveLength(1);
  });

  it("returns the same batch for a repeated Idempotency-Key and refuses the key with other parameters (409), per tenant", async () => {
    const client = openai("alpha");
    const file = await client.files.create({ file: await toFile(jsonl(2), "idem.jsonl"), purpose: "batch" });
    const params = { input_file_id: file.id, endpoint: "/v1/chat/completions" as const, completion_window: "24h" as const };
    const first = await client.batches.create(params, { headers: { "Idempotency-Key": "retry-me" } });
    const again = await client.batches.create(params, { headers: { "Idempotency-Key": "retry-me" } });
    expect(again.id).toBe(first.id);
    const changed = await client.batches.create({ ...params, metadata: { run: "2" } }, { headers: { "Idempotency-Key": "retry-me" } }).catch((error: unknown) => error);
    expect(changed).toBeInstanceOf(OpenAI.ConflictError);
    expect((changed as Error).message).toContain("Idempotency-Key");
    expect((await client.batches.list()).data.filter((batch) => batch.input_file_id === file.id)).toHaveLength(1);

    const headers = { "Idempotency-Key": "msg-1" };
    const message = await anthropic("alpha").messages.batches.create({ requests: [messageRequest("a")] }, { headers });
    expect((await anthropic("alpha").messages.batches.create({ requests: [messageRequest("a")] }, { headers })).id).toBe(message.id);
    await expect(anthropic("alpha").messages.batches.create({ requests: [messageRequest("b")] }, { headers })).rejects.toBeInstanceOf(Anthropic.ConflictError);
    // Keys belong to a tenant: beta's "msg-1" is its own.
    expect((await anthropic("beta").messages.batches.create({ requests: [messageRequest("a")] }, { headers })).id).not.toBe(message.id);

    const createGemini = (text: string) =>
      fetch(`${spool.url}/v1beta/models/m:batchGenerateContent`, {
        method: "POST",
        headers: { "x-goog-api-key": keyOf("alpha"), "content-type": "application/json", "idempotency-key": "gem-1" },
        body: JSON.stringify({ batch: { inputConfig: { requests: { requests: [{ request: { contents: [{ parts: [{ text }] }] } }] } } } }),
      });
    const operation = (await (await createGemini("one")).json()) as { name: string };
    expect(((await (await createGemini("one")).json()) as { name: string }).name).toBe(operation.name);
    const conflict = await createGemini("two");
    expect(conflict.status).toBe(409);
    expect(((await conflict.json()) as { error: { status: string } }).error.status).toBe("ALREADY_EXISTS");
  });
});
