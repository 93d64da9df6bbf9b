/**
 * The openai Engine against the in-process fake upstream: one HTTP exchange per call, every failure an
 * EngineError with the retry decision already made.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import type { OpenAIModelConfig } from "../../../src/config/config.ts";
import type { RequestKind } from "../../../src/core/types.ts";
import { EngineError } from "../../../src/core/engine.ts";
import { OpenAIEngine } from "../../../src/engines/openai/openai-engine.ts";
import { startFakeOpenAIUpstream, type FakeOpenAIUpstream } from "../../helpers/fake-openai-upstream.ts";

let upstream: FakeOpenAIUpstream;
let engine: OpenAIEngine;
const NOW = Date.UTC(2026, 0, 1);

beforeAll(async () => {
  upstream = await startFakeOpenAIUpstream({ apiKey: "sk-upstream" });
  engine = new OpenAIEngine({ nowMs: () => NOW });
});

afterEach(() => upstream.setFault(null));

afterAll(async () => {
  await engine.close();
  await upstream.close();
});

function model(overrides: Partial<OpenAIModelConfig> = {}): OpenAIModelConfig {
  return { name: "gpt-test", engine: "openai", baseUrl: upstream.url, apiKey: "sk-upstream", concurrency: 4, timeoutMs: 10_000, maxRetries: 0, ...overrides };
}

function chat(text: string, extra: Record<string, unknown> = {}) {
  return { model: "client-name", messages: [{ role: "user", content: text }], ...extra };
}

function run(body: Record<string, unknown>, options: { kind?: RequestKind; model?: OpenAIModelConfig; signal?: AbortSignal } = {}) {
  return engine.execute({ kind: options.kind ?? "chat", dialect: "openai", body, model: options.model ?? model(), signal: options.signal ?? new AbortController().signal });
}

async function failure(promise: Promise<unknown>): Promise<EngineError> {
  const error = await promise.then(() => null, (caught: unknown) => caught);
  expect(error).toBeInstanceOf(EngineError);
  return error as EngineError;
}

describe("OpenAIEngine", () => {
  it("forwards the body with the upstream model name and returns the upstream reply (with the Model's own name), usage and request id", async () => {
    const cheap = model({ upstreamModel: "upstream-model-v2", headers: { "OpenAI-Organization": "org-1" } });
    const reply = await run(chat("hello there", { temperature: 0.2, some_new_param: { nested: true } }), { model: cheap });
    const sent = upstream.lastRequest;
    expect(sent?.path).toBe("/v1/chat/completions");
    expect(sent?.body).toEqual({ model: "upstream-model-v2", messages: [{ role: "user", content: "hello there" }], temperature: 0.2, some_new_param: { nested: true } });
    expect(sent?.headers.authorization).toBe("Bearer sk-upstream");
    expect(sent?.headers["openai-organization"]).toBe("org-1");
    const body = reply.body as { model: string; choices: { message: { content: string } }[]; usage: { prompt_tokens: number; completion_tokens: number } };
    expect(reply.statusCode).toBe(200);
    expect(body.model).toBe("gpt-test"); // the upstream answered "upstream-model-v2": spool's configuration, not the client's
    expect(body.choices[0]?.message.content).toBe("echo: hello there");
    expect(reply.usage).toEqual({ inputTokens: body.usage.prompt_tokens, outputTokens: body.usage.completion_tokens });
    expect(reply.usage.inputTokens).toBeGreaterThan(0);
    expect(reply.requestId).toMatch(/^req_fake_/);
  });

  it("sends the Model name when no upstreamModel is configured, and forces streaming off", async () => {
    await run(chat("stream please", { stream: true, stream_options: { include_usage: true } }));
    expect(upstream.lastRequest?.body).toMatchObject({ model: "gpt-test", stream: false });
    expect(upstream.lastRequest?.body).not.toHaveProperty("stream_options");
  });

  it("joins a baseUrl with a trailing slash without doubling it, and calls /completions and /embeddings", async () => {
    const slashed = model({ baseUrl: `${upstream.url}/` });
    const completion = await run({ model: "x", prompt: "once upon" }, { kind: "completion", model: slashed });
    expect(upstream.lastRequest?.path).toBe("/v1/completions");
    expect((completion.body as { object: string }).object).toBe("text_completion");
    const embedding = await run({ model: "x", input: "vector me" }, { kind: "embedding", model: slashed });
    expect(upstream.lastRequest?.path).toBe("/v1/embeddings");
    expect(upstream.lastRequest?.body).not.toHaveProperty("stream");
    expect((embedding.body as { data: { embedding: number[] }[] }).data[0]?.embedding).toHaveLength(8);
    expect(embedding.usage.inputTokens).toBeGreaterThan(0);
    expect(embedding.usage.outputTokens).toBe(0);
  });

  it("turns a 429 into a retryable error with Retry-After in seconds parsed", async () => {
    upstream.setFault(() => ({ status: 429, retryAfter: "2" }));
    const error = await failure(run(chat("limited")));
    expect(error).toMatchObject({ kind: "http", statusCode: 429, retryable: true, retryAfterMs: 2_000 });
    expect(error.requestId).toMatch(/^req_fake_/);
    expect(error.body).toMatchObject({ error: { type: "rate_limit_error" } });
  });

  it("prefers retry-after-ms over retry-after, and reads an HTTP-date Retry-After against the clock", async () => {
    upstream.setFault(() => ({ status: 429, retryAfter: "30", retryAfterMs: "150" }));
    expect((await failure(run(chat("limited ms")))).retryAfterMs).toBe(150);
    upstream.setFault(() => ({ status: 503, retryAfter: new Date(NOW + 7_000).toUTCString() }));
    expect(await failure(run(chat("limited date")))).toMatchObject({ statusCode: 503, retryable: true, retryAfterMs: 7_000 });
  });

  it("turns a 400 into a non-retryable error carrying the upstream body", async () => {
    const upstreamBody = { error: { message: "Invalid value for 'temperature'.", type: "invalid_request_error", param: "temperature", code: null } };
    upstream.setFault(() => ({ status: 400, body: upstreamBody }));
    const error = await failure(run(chat("bad temperature")));
    expect(error).toMatchObject({ kind: "http", statusCode: 400, retryable: false, retryAfterMs: null });
    expect(error.body).toEqual(upstreamBody);
    expect(error.message).toContain("Invalid value for 'temperature'.");
  });

  it("lets x-should-retry override the status rule both ways", async () => {
    upstream.setFault(() => ({ status: 503, headers: { "x-should-retry": "false" } }));
    expect((await failure(run(chat("do not retry")))).retryable).toBe(false);
    upstream.setFault(() => ({ status: 400, headers: { "x-should-retry": "true" } }));
    expect((await failure(run(chat("do retry")))).retryable).toBe(true);
  });

  it("reports a reset connection as a retryable network error", async () => {
    upstream.setFault(() => ({ reset: true }));
    const error = await failure(run(chat("reset me")));
    expect(error).toMatchObject({ kind: "network", retryable: true, statusCode: null });
  });

  it("reports a refused connection as a retryable network error", async () => {
    const dead = await startFakeOpenAIUpstream();
    await dead.close();
    const error = await failure(run(chat("nobody home"), { model: model({ name: "dead", baseUrl: dead.url }) }));
    expect(error).toMatchObject({ kind: "network", retryable: true });
    expect(error.message).toContain("ECONNREFUSED");
  });

  it("reports a slow upstream as a retryable timeout when the signal's timeout fires", async () => {
    upstream.setFault(() => ({ hang: true }));
    const error = await failure(run(chat("too slow"), { signal: AbortSignal.timeout(100) }));
    expect(error).toMatchObject({ kind: "timeout", retryable: true });
  });

  it("reports a caller's cancel as aborted and not retryable", async () => {
    upstream.setFault(() => ({ delayMs: 5_000 }));
    const controller = new AbortController();
    const pending = run(chat("cancel me"), { signal: controller.signal });
    setTimeout(() => controller.abort(), 50);
    expect(await failure(pending)).toMatchObject({ kind: "aborted", retryable: false });
  });

  it("treats a 2xx that is not JSON as a retryable bad gateway", async () => {
    upstream.setFault(() => ({ status: 200, rawBody: "<html>proxy login</html>", contentType: "text/html" }));
    expect(await failure(run(chat("proxied")))).toMatchObject({ kind: "http", statusCode: 502, retryable: true });
  });

  it("keeps a non-JSON error body as text", async () => {
    upstream.setFault(() => ({ status: 502, rawBody: "Bad Gateway", contentType: "text/plain" }));
    expect(await failure(run(chat("gateway")))).toMatchObject({ statusCode: 502, retryable: true, body: "Bad Gateway" });
  });

  it("surfaces a wrong upstream key as a non-retryable 401", async () => {
    expect(await failure(run(chat("who am i"), { model: model({ name: "wrong-key", apiKey: "sk-wrong" }) }))).toMatchObject({ statusCode: 401, retryable: false });
  });

  it("fails requests running or arriving after close as aborted, so the Worker returns them", async () => {
    const closing = new OpenAIEngine();
    upstream.setFault(() => ({ hang: true }));
    const running = closing.execute({ kind: "chat", dialect: "openai", body: chat("in flight at close"), model: model(), signal: new AbortController().signal });
    const settled = running.then(() => null, (error: unknown) => error);
    // Wait until the request reached the upstream, so close() really cuts a running exchange.
    while (upstream.countsByKey.get("in flight at close") === undefined) await new Promise((resolve) => setImmediate(resolve));
    await closing.close();
    expect(await settled).toMatchObject({ kind: "aborted", retryable: false });
    expect(await failure(closing.execute({ kind: "chat", dialect: "openai", body: chat("late"), model: model(), signal: new AbortController().signal }))).toMatchObject({ kind: "aborted" });
  });

  it("refuses a Model of another engine as unsupported", async () => {
    const gemini = { name: "g", engine: "gemini", concurrency: 1, timeoutMs: 1_000, maxRetries: 0 } as const;
    const error = await failure(engine.execute({ kind: "chat", dialect: "openai", body: chat("x"), model: gemini, signal: new AbortController().signal }));
    expect(error).toMatchObject({ kind: "unsupported", retryable: false });
  });
});
