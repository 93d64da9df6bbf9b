import OpenAI from "openai";
import { afterAll, beforeAll, describe, expect, it, onTestFinished } from "vitest";
import { buildHttpServer } from "../../../src/api/http-server.ts";
import { openAISurfaces } from "../../../src/api/openai/plugin.ts";
import { startFakeOpenAIUpstream, type FakeOpenAIUpstream } from "../../helpers/fake-openai-upstream.ts";
import { waitFor } from "../../helpers/wait-for.ts";
import { startOpenAITestServer, type OpenAITestServer } from "./openai-test-server.ts";

describe("HTTP server", () => {
  let spool: OpenAITestServer;

  beforeAll(async () => {
    spool = await startOpenAITestServer({ label: "http-server" });
  });
  afterAll(async () => spool?.close());

  it("sends x-request-id on successes and errors, and the SDK exposes it", async () => {
    const ok = await fetch(`${spool.url}/v1/files`);
    expect(ok.headers.get("x-request-id")).toMatch(/^req_[a-z0-9]+$/);
    const missing = await fetch(`${spool.url}/v1/nowhere`);
    expect(missing.headers.get("x-request-id")).toMatch(/^req_/);
    const error = await spool.client.batches.retrieve("batch_missing").catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(OpenAI.NotFoundError);
    expect((error as InstanceType<typeof OpenAI.NotFoundError>).requestID).toMatch(/^req_/);
  });

  it("answers unknown URLs with the OpenAI envelope on both OpenAI prefixes", async () => {
    for (const url of [`${spool.url}/v1/nowhere`, `${spool.url}/v1beta/openai/nowhere`, `${spool.url}/elsewhere`]) {
      const response = await fetch(url, { method: "POST" });
      expect(response.status).toBe(404);
      expect(response.headers.get("content-type")).toContain("application/json");
      expect(await response.json()).toEqual({ error: { message: expect.stringContaining("Invalid URL (POST "), type: "invalid_request_error", param: null, code: "not_found" } });
    }
  });

  it("accepts a cancel with an empty body, with or without a JSON content type", async () => {
    const file = await spool.client.files.create({ file: new File(["{}"], "in.jsonl"), purpose: "batch" });
    for (const headers of [{}, { "content-type": "application/json" }] as Record<string, string>[]) {
      const batch = await spool.client.batches.create({ input_file_id: file.id, endpoint: "/v1/chat/completions", completion_window: "24h" });
      const response = await fetch(`${spool.url}/v1/batches/${batch.id}/cancel`, { method: "POST", headers });
      expect(response.status).toBe(200);
      expect(((await response.json()) as { status: string }).status).toBe("cancelling");
    }
  });

  it("answers malformed JSON and unsupported content types in the envelope", async () => {
    const bad = await fetch(`${spool.url}/v1/batches`, { method: "POST", headers: { "content-type": "application/json" }, body: "{nope" });
    expect(bad.status).toBe(400);
    expect(await bad.json()).toMatchObject({ error: { type: "invalid_request_error" } });
    const text = await fetch(`${spool.url}/v1/batches`, { method: "POST", headers: { "content-type": "application/xml" }, body: "<a/>" });
    expect(text.status).toBe(415);
    expect(await text.json()).toMatchObject({ error: { type: "invalid_request_error", code: "unsupported_media_type" } });
  });

  it("turns an unexpected failure into a generic 500 that names the request id and hides the detail", async () => {
    const original = spool.store.getBatch.bind(spool.store);
    spool.context.store.getBatch = async () => {
      throw new Error("disk on fire at /secret/path");
    };
    try {
      const response = await fetch(`${spool.url}/v1/batches/batch_x`);
      expect(response.status).toBe(500);
      const body = (await response.json()) as { error: { message: string; type: string } };
      expect(body.error.type).toBe("server_error");
      expect(body.error.message).toContain(response.headers.get("x-request-id") ?? "missing");
      expect(body.error.message).not.toContain("secret");
    } finally {
      spool.context.store.getBatch = original;
    }
  });

  it("routes errors to the mapper of the longest matching prefix, so another dialect can plug in", async () => {
    const server = buildHttpServer(spool.context, { surfaces: [...openAISurfaces(), {
      name: "gemini-like",
      prefix: "/v1beta",
      register: async (scope) => {
        scope.get("/boom", async () => {
          throw new Error("boom");
        });
      },
      toErrorReply: (_error, requestId) => ({ statusCode: 404, headers: {}, body: { error: { code: 404, status: "NOT_FOUND", requestId } }, unexpected: false }),
    }] });
    try {
      const gemini = await server.inject({ method: "GET", url: "/v1beta/models/x:unknown" });
      expect(gemini.statusCode).toBe(404);
      expect(gemini.json()).toMatchObject({ error: { status: "NOT_FOUND" } });
      expect((await server.inject({ method: "GET", url: "/v1beta/boom" })).json()).toMatchObject({ error: { status: "NOT_FOUND" } });
      const compat = await server.inject({ method: "GET", url: "/v1beta/openai/nowhere" });
      expect(compat.json()).toMatchObject({ error: { type: "invalid_request_error", code: "not_found" } });
    } finally {
      await server.close();
    }
  });
});

describe("HTTP server shutdown", () => {
  // The download's last read can finish after the client has its bytes; the connection then turned idle
  // after close() had already closed the idle ones, and sat in keep-alive for 72 s.
  it("closes promptly right after a file download", { repeats: 10, timeout: 20_000 }, async () => {
    const spool = await startOpenAITestServer({ label: "http-close" });
    const file = await spool.client.files.create({ file: new File(["contents"], "c.jsonl"), purpose: "user_data" });
    expect(await (await fetch(`${spool.url}/v1/files/${file.id}/content`)).text()).toBe("contents");
    const started = Date.now();
    await spool.close();
    expect(Date.now() - started).toBeLessThan(5_000);
  });
});

describe("HTTP server API keys", () => {
  let spool: OpenAITestServer;

  beforeAll(async () => {
    spool = await startOpenAITestServer({ label: "http-keys", file: { apiKeys: ["sk-good"] } });
  });
  afterAll(async () => spool?.close());

  it("accepts the key as a Bearer token, x-goog-api-key or ?key=", async () => {
    expect((await spool.client.files.list()).data).toEqual([]);
    expect((await fetch(`${spool.url}/v1/files`, { headers: { "x-goog-api-key": "sk-good" } })).status).toBe(200);
    expect((await fetch(`${spool.url}/v1/files?key=sk-good`)).status).toBe(200);
    expect((await fetch(`${spool.url}/health`)).status).toBe(200);
  });

  it("rejects a missing or wrong key with the OpenAI authentication envelope", async () => {
    const missing = await fetch(`${spool.url}/v1/files`);
    expect(missing.status).toBe(401);
    expect(await missing.json()).toMatchObject({ error: { type: "authentication_error", code: "invalid_api_key" } });
    const wrong = new OpenAI({ apiKey: "sk-bad", baseURL: `${spool.url}/v1beta/openai/`, maxRetries: 0 });
    await expect(wrong.batches.list()).rejects.toBeInstanceOf(OpenAI.AuthenticationError);
  });
});

describe("synchronous passthrough", () => {
  let upstream: FakeOpenAIUpstream;
  let spool: OpenAITestServer;

  beforeAll(async () => {
    upstream = await startFakeOpenAIUpstream({ record: true });
    spool = await startOpenAITestServer({ label: "openai-sync", upstreamUrl: upstream.url });
  });
  afterAll(async () => {
    await spool?.close();
    await upstream?.close();
  });

  it("answers chat completions and embeddings through the engine", async () => {
    const reply = await spool.client.chat.completions.create({ model: "gpt-test", messages: [{ role: "user", content: "sync hello" }] });
    expect(reply.choices[0]?.message.content).toBe("echo: sync hello");
    const embedding = await spool.client.embeddings.create({ model: "gpt-test", input: "x", encoding_format: "float" });
    expect(embedding.data[0]?.embedding).toHaveLength(8);
  });

  it("sends the client's bytes upstream and the upstream's bytes back when nothing in them changes", async () => {
    // Integers past 2^53 show a re-serialisation: JSON.stringify(JSON.parse(...)) would round them.
    const sent = '{"model":"gpt-test", "messages":[{"role":"user","content":"exact bytes"}],\n "seed": 12345678901234567891}';
    const answer = '{"id":"chatcmpl-exact","object":"chat.completion","created":1,"model":"gpt-test","system_fingerprint":98765432109876543210,"choices":[{"index":0,"message":{"role":"assistant","content":"as sent"},"finish_reason":"stop"}],"usage":{"prompt_tokens":3,"completion_tokens":2,"total_tokens":5}}';
    upstream.setFault(({ key }) => (key === "exact bytes" ? { status: 200, rawBody: answer, contentType: "application/json" } : undefined));
    onTestFinished(() => upstream.setFault(null));
    const response = await fetch(`${spool.url}/v1/chat/completions`, { method: "POST", headers: { "content-type": "application/json" }, body: sent });
    expect(response.status).toBe(200);
    expect(await response.text()).toBe(answer);
    expect(upstream.received.at(-1)?.text).toBe(sent);
  });

  it("passes an upstream 400 through with its status and body", async () => {
    upstream.setFault(({ key }) =>
      key === "reject me" ? { status: 400, body: { error: { message: "Invalid value for 'temperature'.", type: "invalid_request_error", param: "temperature", code: null } } } : undefined,
    );
    onTestFinished(() => upstream.setFault(null));
    const failure = spool.client.chat.completions.create({ model: "gpt-test", messages: [{ role: "user", content: "reject me" }] });
    await expect(failure).rejects.toBeInstanceOf(OpenAI.BadRequestError);
    await expect(failure).rejects.toMatchObject({ param: "temperature", message: "400 Invalid value for 'temperature'." });
  });

  it("answers an unknown model with 404 model_not_found listing the configured models", async () => {
    const before = upstream.requests;
    await expect(spool.client.chat.completions.create({ model: "nope", messages: [{ role: "user", content: "x" }] })).rejects.toMatchObject({
      status: 404,
      code: "model_not_found",
      param: "model",
      message: expect.stringContaining("Configured models: gpt-test."),
    });
    expect(upstream.requests).toBe(before);
  });

  it("refuses stream_options without stream, naming the field", async () => {
    await expect(spool.client.chat.completions.create({ model: "gpt-test", messages: [{ role: "user", content: "x" }], stream_options: { include_usage: true } })).rejects.toMatchObject({
      status: 400,
      param: "stream_options",
    });
  });

  it("stops the upstream request when the client hangs up", async () => {
    upstream.setFault(({ key }) => (key === "hang" ? { hang: true } : undefined));
    onTestFinished(() => upstream.setFault(null));
    const controller = new AbortController();
    const pending = spool.client.chat.completions.create({ model: "gpt-test", messages: [{ role: "user", content: "hang" }] }, { signal: controller.signal });
    await waitFor(() => upstream.inFlight === 1, { what: "the request to reach the upstream" });
    controller.abort();
    await expect(pending).rejects.toThrow();
    await waitFor(() => upstream.inFlight === 0, { what: "the upstream request to be aborted" });
  });

  it("answers 502 in the envelope when the upstream cannot be reached", async () => {
    const down = await startOpenAITestServer({ label: "openai-sync-down", upstreamUrl: "http://127.0.0.1:9/v1" });
    try {
      await expect(down.client.chat.completions.create({ model: "gpt-test", messages: [{ role: "user", content: "x" }] })).rejects.toMatchObject({
        status: 502,
        type: "server_error",
      });
    } finally {
      await down.close();
    }
  });

  it("lists the configured models", async () => {
    const models = await spool.client.models.list();
    expect(models.data).toEqual([{ id: "gpt-test", object: "model", created: expect.any(Number), owned_by: "spool" }]);
    expect((await spool.client.models.retrieve("gpt-test")).id).toBe("gpt-test");
    await expect(spool.client.models.retrieve("nope")).rejects.toMatchObject({ status: 404, code: "model_not_found" });
  });
});
