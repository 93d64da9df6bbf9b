/**
 * The `anthropic` engine against an in-process stand-in speaking Anthropic's Messages wire and failure modes:
 * the native request it sends, usage and request ids it reads, and — through a real spool and the real
 * `openai` SDK — an OpenAI batch on it, with 429 / 529 answers retried after their retry-after.
 */
import Anthropic, { APIError } from "@anthropic-ai/sdk";
import { GoogleGenAI } from "@google/genai";
import OpenAI, { toFile } from "openai";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { configFileSchema, MODEL_DEFAULTS, type AnthropicModelConfig } from "../../../src/config/config.ts";
import { EngineError } from "../../../src/core/engine.ts";
import { AnthropicEngine } from "../../../src/engines/anthropic/anthropic-engine.ts";
import { withTranslation } from "../../../src/dialects/translate/translating-engine.ts";
import { chatLine } from "../../helpers/batch-files.ts";
import { startFakeAnthropicUpstream, type FakeAnthropicUpstream } from "../../helpers/fake-anthropic-upstream.ts";
import { startTestApp, type TestApp } from "../../helpers/spool-app.ts";
import { waitFor } from "../../helpers/wait-for.ts";

let upstream: FakeAnthropicUpstream;

beforeAll(async () => {
  upstream = await startFakeAnthropicUpstream({ apiKey: "upstream-key" });
});

afterAll(async () => {
  await upstream?.close();
});

function modelConfig(overrides: Partial<AnthropicModelConfig> = {}): AnthropicModelConfig {
  const parsed = configFileSchema.parse({ models: [{ name: "claude-local-name", engine: "anthropic", baseUrl: upstream.url, apiKey: "upstream-key", upstreamModel: "claude-upstream", ...overrides }] });
  return { ...MODEL_DEFAULTS.anthropic, ...(parsed.models?.[0] as AnthropicModelConfig) };
}

describe("anthropic engine", () => {
  it("sends the client's body natively with its key, API version and upstream model name, and reads usage with cache tokens", async () => {
    const engine = new AnthropicEngine();
    try {
      const body = { model: "claude-local-name", max_tokens: 20, stream: true, thinking: { type: "disabled" }, messages: [{ role: "user", content: "native" }] };
      const reply = await engine.execute({ kind: "chat", dialect: "anthropic", body, model: modelConfig(), signal: new AbortController().signal });
      const sent = upstream.received.at(-1);
      expect(sent?.headers).toMatchObject({ "x-api-key": "upstream-key", "anthropic-version": "2023-06-01" });
      // Fields spool does not translate (thinking) reach the upstream as written; streaming is switched off.
      expect(sent?.body).toEqual({ model: "claude-upstream", max_tokens: 20, thinking: { type: "disabled" }, messages: [{ role: "user", content: "native" }] });
      expect(reply.body).toMatchObject({ type: "message", model: "claude-local-name", content: [{ type: "text", text: "echo: native" }] });
      const usage = (reply.body as { usage: { input_tokens: number; output_tokens: number; cache_read_input_tokens: number } }).usage;
      expect(reply.usage).toEqual({ inputTokens: usage.input_tokens + usage.cache_read_input_tokens, outputTokens: usage.output_tokens, cachedInputTokens: usage.cache_read_input_tokens });
      expect(usage.cache_read_input_tokens).toBeGreaterThan(0);
      expect(reply.requestId).toMatch(/^req_fake_anthropic_/);
    } finally {
      await engine.close();
    }
  });

  it("fails a 529 as retryable with the server's retry-after, and a 400 as final with Anthropic's envelope", async () => {
    const engine = new AnthropicEngine();
    const run = (text: string) =>
      engine.execute({ kind: "chat", dialect: "anthropic", body: { max_tokens: 5, messages: [{ role: "user", content: text }] }, model: modelConfig(), signal: new AbortController().signal });
    upstream.setFault(({ key }) => (key === "busy" ? { status: 529, retryAfter: "3" } : key === "bad" ? { status: 400 } : undefined));
    try {
      const busy = await run("busy").catch((caught: unknown) => caught);
      expect(busy).toBeInstanceOf(EngineError);
      expect(busy).toMatchObject({ kind: "http", statusCode: 529, retryable: true, retryAfterMs: 3_000, body: { type: "error", error: { type: "overloaded_error" } } });
      const bad = await run("bad").catch((caught: unknown) => caught);
      expect(bad).toMatchObject({ statusCode: 400, retryable: false, body: { type: "error", error: { type: "invalid_request_error" } } });
    } finally {
      upstream.setFault(null);
      await engine.close();
    }
  });

  it("serves OpenAI chat bodies through translation and refuses embeddings with a 400 naming why", async () => {
    const engine = withTranslation(new AnthropicEngine());
    try {
      const body = { model: "x", max_completion_tokens: 9, temperature: 0.2, stop: "zz", messages: [{ role: "system", content: "sys" }, { role: "user", content: "translated" }] };
      const reply = await engine.execute({ kind: "chat", dialect: "openai", body, model: modelConfig(), signal: new AbortController().signal });
      expect(upstream.received.at(-1)?.body).toEqual({ model: "claude-upstream", max_tokens: 9, temperature: 0.2, stop_sequences: ["zz"], system: "sys", messages: [{ role: "user", content: "translated" }] });
      expect(reply.body).toMatchObject({ object: "chat.completion", choices: [{ index: 0, message: { role: "assistant", content: "echo: translated" }, finish_reason: "stop" }] });
      const embedding = await engine
        .execute({ kind: "embedding", dialect: "openai", body: { model: "x", input: "a" }, model: modelConfig(), signal: new AbortController().signal })
        .catch((caught: unknown) => caught);
      expect(embedding).toMatchObject({ kind: "unsupported", statusCode: 400, body: { error: { message: expect.stringMatching(/Anthropic models serve messages only/) } } });
    } finally {
      await engine.close();
    }
  });
});

describe("streams on the anthropic engine", () => {
  let spool: TestApp;
  beforeAll(async () => {
    spool = await startTestApp({ models: [{ name: "claude-streams", engine: "anthropic", baseUrl: upstream.url, apiKey: "upstream-key", upstreamModel: "claude-upstream" }] }, { label: "anthropic-streams", workers: false });
  });
  afterAll(async () => {
    await spool?.stop();
  });

  it("passes Anthropic's events through to an Anthropic client, the model renamed to spool's", async () => {
    const client = new Anthropic({ apiKey: "k", baseURL: spool.url, maxRetries: 0 });
    const final = await client.messages.stream({ model: "claude-streams", max_tokens: 20, messages: [{ role: "user", content: "stream natively" }] }).finalMessage();
    expect(final).toMatchObject({ model: "claude-streams", stop_reason: "end_turn", content: [{ type: "text", text: "echo: stream natively" }] });
    expect(upstream.received.at(-1)?.body).toMatchObject({ model: "claude-upstream", stream: true });
  });

  it("streams to an OpenAI client as chat.completion chunks: text, tool call arguments and the usage chunk", async () => {
    const openai = new OpenAI({ apiKey: "k", baseURL: spool.openaiBaseUrl, maxRetries: 0 });
    const stream = await openai.chat.completions.create({ model: "claude-streams", stream: true, stream_options: { include_usage: true }, messages: [{ role: "user", content: "via openai" }] });
    let text = "";
    let finish: string | null = null;
    let usage: { prompt_tokens: number; completion_tokens: number } | null = null;
    for await (const chunk of stream) {
      text += chunk.choices[0]?.delta.content ?? "";
      finish = chunk.choices[0]?.finish_reason ?? finish;
      usage = chunk.usage ?? usage;
    }
    expect(text).toBe("echo: via openai");
    expect(finish).toBe("stop");
    expect(usage?.prompt_tokens).toBeGreaterThan(0);
    expect(usage?.completion_tokens).toBeGreaterThan(0);

    const calls = await openai.chat.completions.create({ model: "claude-streams", stream: true, tools: [{ type: "function", function: { name: "look", parameters: { type: "object" } } }], messages: [{ role: "user", content: "use tool please" }] });
    let args = "";
    let name = "";
    for await (const chunk of calls) {
      for (const call of chunk.choices[0]?.delta.tool_calls ?? []) {
        name += call.function?.name ?? "";
        args += call.function?.arguments ?? "";
      }
      finish = chunk.choices[0]?.finish_reason ?? finish;
    }
    expect(name).toBe("look");
    expect(JSON.parse(args)).toEqual({ asked: "use tool please" });
    expect(finish).toBe("tool_calls");
  });

  it("streams to a Gemini client through two translations (Anthropic -> OpenAI -> Gemini chunks)", async () => {
    const ai = new GoogleGenAI({ apiKey: "k", httpOptions: { baseUrl: spool.url } });
    let text = "";
    let usage: number | undefined;
    for await (const chunk of await ai.models.generateContentStream({ model: "claude-streams", contents: "via gemini" })) {
      text += chunk.text ?? "";
      usage = chunk.usageMetadata?.promptTokenCount ?? usage;
    }
    expect(text).toBe("echo: via gemini");
    expect(usage).toBeGreaterThan(0);
  });

  it("fails a stream that the upstream ends with an overloaded_error event, with that type", async () => {
    upstream.setFault(({ key }) => (key === "overload me" ? { failMidStream: "overloaded_error" } : undefined));
    try {
      const client = new Anthropic({ apiKey: "k", baseURL: spool.url, maxRetries: 0 });
      const stream = await client.messages.create({ model: "claude-streams", max_tokens: 20, stream: true, messages: [{ role: "user", content: "overload me" }] });
      const failure = await (async () => {
        for await (const event of stream) void event;
      })().catch((caught: unknown) => caught);
      expect(failure).toBeInstanceOf(APIError);
      expect((failure as APIError).type).toBe("overloaded_error");
    } finally {
      upstream.setFault(null);
    }
  });
});

describe("an OpenAI batch on the anthropic engine", () => {
  let spool: TestApp;
  beforeAll(async () => {
    spool = await startTestApp(
      { models: [{ name: "claude-via-openai-sdk", engine: "anthropic", baseUrl: upstream.url, apiKey: "upstream-key", concurrency: 4 }], worker: { sweepMs: 50, pollMs: 50 } },
      { label: "openai-on-anthropic" },
    );
  });
  afterAll(async () => {
    await spool?.stop();
  });

  it("runs every line, retrying 429 and 529 answers after their retry-after, and writes OpenAI result lines", async () => {
    upstream.setFault(({ key, attemptForKey }) => {
      if (key === "rate limited" && attemptForKey === 1) return { status: 429, retryAfter: "0.05" };
      if (key === "overloaded" && attemptForKey <= 2) return { status: 529, retryAfter: "0" };
      if (key === "refused") return { status: 400 };
      return undefined;
    });
    try {
      const openai = new OpenAI({ apiKey: "k", baseURL: spool.openaiBaseUrl, maxRetries: 0 });
      const texts = ["plain", "rate limited", "overloaded", "refused"];
      const lines = texts.map((text, i) => chatLine(`o-${i}`, text, "claude-via-openai-sdk"));
      const file = await openai.files.create({ file: await toFile(Buffer.from(lines.join("\n")), "in.jsonl"), purpose: "batch" });
      const created = await openai.batches.create({ input_file_id: file.id, endpoint: "/v1/chat/completions", completion_window: "24h" });
      const done = await waitFor(async () => {
        const batch = await openai.batches.retrieve(created.id);
        return ["completed", "failed"].includes(batch.status) ? batch : undefined;
      });
      expect(done.status).toBe("completed");
      expect(done.request_counts).toEqual({ total: 4, completed: 3, failed: 1 });
      expect(upstream.countsByKey.get("rate limited")).toBe(2);
      expect(upstream.countsByKey.get("overloaded")).toBe(3);
      expect(upstream.countsByKey.get("refused")).toBe(1);

      const output = (await (await openai.files.content(done.output_file_id ?? "")).text()).trim().split("\n").map((line) => JSON.parse(line) as { custom_id: string; response: { body: { choices: { message: { content: string } }[]; usage: { prompt_tokens: number } } } });
      expect(output.map((line) => [line.custom_id, line.response.body.choices[0]?.message.content])).toEqual([["o-0", "echo: plain"], ["o-1", "echo: rate limited"], ["o-2", "echo: overloaded"]]);
      expect(output.every((line) => line.response.body.usage.prompt_tokens > 0)).toBe(true);
      const errors = (await (await openai.files.content(done.error_file_id ?? "")).text()).trim().split("\n").map((line) => JSON.parse(line) as { custom_id: string; response: { status_code: number; body: unknown } });
      // The upstream's Anthropic envelope reaches the OpenAI client as an OpenAI one, its type kept as `code`.
      expect(errors).toMatchObject([{ custom_id: "o-3", response: { status_code: 400, body: { error: { type: "invalid_request_error", code: "invalid_request_error" } } } }]);
    } finally {
      upstream.setFault(null);
    }
  });
});
