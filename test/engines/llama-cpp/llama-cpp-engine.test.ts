/**
 * The llama-cpp Engine on the generated tiny model (random weights: it emits gibberish, so these tests assert
 * structure, counts, determinism and control flow, never text).
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { z } from "zod";
import type { LlamaCppModelConfig } from "../../../src/config/config.ts";
import type { RequestKind } from "../../../src/core/types.ts";
import { EngineError, type EngineReply } from "../../../src/core/engine.ts";
import { LlamaCppEngine } from "../../../src/engines/llama-cpp/llama-cpp-engine.ts";
import { ensureTinyModel } from "../../helpers/test-model.ts";
import { waitFor } from "../../helpers/wait-for.ts";

let model: LlamaCppModelConfig;
let engine: LlamaCppEngine;

function run(kind: RequestKind, body: Record<string, unknown>, signal = new AbortController().signal): Promise<EngineReply> {
  return engine.execute({ kind, dialect: "openai", body, model, signal });
}

async function failureOf(promise: Promise<unknown>): Promise<EngineError> {
  const error = await promise.then(() => null, (caught: unknown) => caught);
  expect(error).toBeInstanceOf(EngineError);
  return error as EngineError;
}

function norm(vector: number[]): number {
  return Math.sqrt(vector.reduce((sum, value) => sum + value * value, 0));
}

const chatReplySchema = z.strictObject({
  id: z.string().regex(/^chatcmpl-[A-Za-z0-9]+$/),
  object: z.literal("chat.completion"),
  created: z.number().int(),
  model: z.string(),
  choices: z.array(
    z.strictObject({
      index: z.number().int(),
      message: z.strictObject({ role: z.literal("assistant"), content: z.string(), refusal: z.null() }),
      logprobs: z.null(),
      finish_reason: z.enum(["stop", "length"]),
      // vLLM's field: the stop string that ended the text, null when none did.
      stop_reason: z.string().nullable(),
    }),
  ),
  usage: z.strictObject({
    prompt_tokens: z.number().int(),
    completion_tokens: z.number().int(),
    total_tokens: z.number().int(),
    prompt_tokens_details: z.strictObject({ cached_tokens: z.number().int() }),
  }),
  system_fingerprint: z.null(),
});

const longGeneration = { messages: [{ role: "user", content: "Tell me a long story." }], temperature: 0 };

beforeAll(async () => {
  const path = await ensureTinyModel();
  model = { name: "tiny-test", engine: "llama-cpp", path, concurrency: 4, timeoutMs: 60_000, maxRetries: 0, threads: 1, sequences: 4 };
  engine = new LlamaCppEngine({ model });
  await engine.warmup();
});

afterAll(async () => {
  await engine?.close();
});

describe("LlamaCppEngine chat", () => {
  it("returns a well-formed chat.completion with honest usage", async () => {
    const reply = await run("chat", {
      model: "tiny-test",
      messages: [
        { role: "system", content: "You are terse." },
        { role: "user", content: [{ type: "text", text: "Hello" }, { type: "text", text: " there" }] },
      ],
      max_tokens: 24,
      seed: 1,
    });
    expect(reply.statusCode).toBe(200);
    const body = chatReplySchema.parse(reply.body);
    expect(body.model).toBe("tiny-test");
    expect(body.choices).toHaveLength(1);
    expect(body.usage.prompt_tokens).toBeGreaterThan(5);
    expect(body.usage.completion_tokens).toBeGreaterThan(0);
    expect(body.usage.total_tokens).toBe(body.usage.prompt_tokens + body.usage.completion_tokens);
    expect(reply.usage).toEqual({ inputTokens: body.usage.prompt_tokens, outputTokens: body.usage.completion_tokens, cachedInputTokens: body.usage.prompt_tokens_details.cached_tokens });
    expect(Math.abs(body.created - Date.now() / 1000)).toBeLessThan(60);
  });

  it("respects max_tokens and max_completion_tokens, reporting finish_reason length when cut", async () => {
    for (const field of ["max_tokens", "max_completion_tokens"]) {
      const body = chatReplySchema.parse((await run("chat", { ...longGeneration, [field]: 5 })).body);
      expect(body.usage.completion_tokens).toBeLessThanOrEqual(5);
      if (body.usage.completion_tokens === 5) expect(body.choices[0]!.finish_reason).toBe("length");
    }
  });

  it("gives the same reply to the same seeded request, whatever ran on the sequence before", async () => {
    const request = { messages: [{ role: "user", content: "Pick a word." }], max_tokens: 16, temperature: 0.9, seed: 42 };
    const first = chatReplySchema.parse((await run("chat", request)).body);
    await run("chat", { messages: [{ role: "user", content: "Something else entirely" }], max_tokens: 30 });
    const second = chatReplySchema.parse((await run("chat", request)).body);
    expect(second.choices[0]!.message.content).toBe(first.choices[0]!.message.content);
    // Usage matches too; only the cached part may differ (the second run may find the prompt on a sequence).
    expect([second.usage.prompt_tokens, second.usage.completion_tokens]).toEqual([first.usage.prompt_tokens, first.usage.completion_tokens]);
  });

  it("produces JSON matching a json_schema response_format", async () => {
    const schema = {
      type: "object",
      properties: { name: { type: "string" }, age: { type: "integer" }, admin: { type: "boolean" } },
      required: ["name", "age", "admin"],
      additionalProperties: false,
    };
    const reply = await run("chat", {
      messages: [{ role: "user", content: "Describe a user as JSON." }],
      response_format: { type: "json_schema", json_schema: { name: "user", schema, strict: true } },
      temperature: 0,
      max_tokens: 400,
    });
    const body = chatReplySchema.parse(reply.body);
    expect(body.choices[0]!.finish_reason).toBe("stop");
    const value = JSON.parse(body.choices[0]!.message.content) as Record<string, unknown>;
    expect(Object.keys(value).sort()).toEqual(["admin", "age", "name"]);
    expect(typeof value.name).toBe("string");
    expect(Number.isInteger(value.age)).toBe(true);
    expect(typeof value.admin).toBe("boolean");
  });

  it("constrains output to a JSON object for response_format json_object", async () => {
    // The generic JSON grammar allows unbounded strings, which a noise model can loop in until max_tokens;
    // the output is still JSON up to that point, and parses whenever generation ended on its own.
    for (const content of ["json", "JSON please"]) {
      const reply = await run("chat", { messages: [{ role: "user", content }], response_format: { type: "json_object" }, temperature: 0, max_tokens: 200 });
      const choice = chatReplySchema.parse(reply.body).choices[0]!;
      expect(choice.message.content.trimStart().startsWith("{")).toBe(true);
      if (choice.finish_reason === "stop") expect(JSON.parse(choice.message.content)).toBeTypeOf("object");
    }
  });

  it("runs n generations and counts the prompt once", async () => {
    const single = chatReplySchema.parse((await run("chat", { messages: [{ role: "user", content: "Hi" }], max_tokens: 4, seed: 5 })).body);
    const reply = await run("chat", { messages: [{ role: "user", content: "Hi" }], max_tokens: 4, n: 3, seed: 5 });
    const body = chatReplySchema.parse(reply.body);
    expect(body.choices.map((choice) => choice.index)).toEqual([0, 1, 2]);
    expect(body.usage.prompt_tokens).toBe(single.usage.prompt_tokens);
    expect(body.usage.completion_tokens).toBeLessThanOrEqual(12);
  });

  it("ends the text before a stop sequence", async () => {
    const free = chatReplySchema.parse((await run("chat", { ...longGeneration, max_tokens: 40 })).body).choices[0]!.message.content;
    const stop = free.slice(3, 5);
    expect(stop.length).toBe(2);
    const stopped = chatReplySchema.parse((await run("chat", { ...longGeneration, max_tokens: 40, stop: [stop] })).body).choices[0]!;
    expect(stopped.finish_reason).toBe("stop");
    expect(stopped.stop_reason).toBe(stop);
    expect(stopped.message.content).not.toContain(stop);
    expect(free.startsWith(stopped.message.content)).toBe(true);
  });
});

describe("LlamaCppEngine completion and embedding", () => {
  it("returns a text_completion with one choice per prompt", async () => {
    const reply = await run("completion", { prompt: ["Once upon a time", "The capital of France"], max_tokens: 8, temperature: 0 });
    const body = reply.body as { id: string; object: string; choices: Array<{ index: number; text: string; finish_reason: string; logprobs: null }>; usage: Record<string, number> };
    expect(body.id).toMatch(/^cmpl-/);
    expect(body.object).toBe("text_completion");
    expect(body.choices.map((choice) => choice.index)).toEqual([0, 1]);
    for (const choice of body.choices) {
      expect(typeof choice.text).toBe("string");
      expect(["stop", "length"]).toContain(choice.finish_reason);
      expect(choice.logprobs).toBeNull();
    }
    expect(body.usage.prompt_tokens).toBeGreaterThan(2);
    expect(body.usage.completion_tokens).toBeLessThanOrEqual(16);
    expect(body.usage.total_tokens).toBe(body.usage.prompt_tokens! + body.usage.completion_tokens!);
  });

  it("returns deterministic unit-length embeddings of the model's dimension", async () => {
    type EmbeddingBody = { object: string; model: string; data: Array<{ object: string; index: number; embedding: number[] }>; usage: { prompt_tokens: number; total_tokens: number } };
    const first = (await run("embedding", { input: ["hello world", "a batch of requests"] })).body as EmbeddingBody;
    const second = (await run("embedding", { input: "hello world" })).body as EmbeddingBody;
    expect(first.object).toBe("list");
    expect(first.data.map((item) => [item.object, item.index])).toEqual([["embedding", 0], ["embedding", 1]]);
    expect(first.data[0]!.embedding).toHaveLength(64);
    expect(norm(first.data[0]!.embedding)).toBeCloseTo(1, 5);
    expect(second.data[0]!.embedding).toEqual(first.data[0]!.embedding);
    expect(first.data[1]!.embedding).not.toEqual(first.data[0]!.embedding);
    expect(first.usage.prompt_tokens).toBeGreaterThan(second.usage.prompt_tokens);
    expect(first.usage.total_tokens).toBe(first.usage.prompt_tokens);
  });

  it("truncates to `dimensions` and renormalises, and encodes base64 float32", async () => {
    const full = ((await run("embedding", { input: "truncate me" })).body as { data: Array<{ embedding: number[] }> }).data[0]!.embedding;
    const short = ((await run("embedding", { input: "truncate me", dimensions: 16 })).body as { data: Array<{ embedding: number[] }> }).data[0]!.embedding;
    expect(short).toHaveLength(16);
    expect(norm(short)).toBeCloseTo(1, 5);
    const prefixNorm = norm(full.slice(0, 16));
    short.forEach((value, index) => expect(value).toBeCloseTo(full[index]! / prefixNorm, 6));

    const encoded = ((await run("embedding", { input: "truncate me", dimensions: 16, encoding_format: "base64" })).body as { data: Array<{ embedding: string }> }).data[0]!.embedding;
    const bytes = Buffer.from(encoded, "base64");
    expect(bytes.length).toBe(16 * 4);
    short.forEach((value, index) => expect(bytes.readFloatLE(index * 4)).toBeCloseTo(value, 6));
  });

  it("answers 400 for an input of the context's size or more, and embeds one a token shorter", async () => {
    const tooLong = await failureOf(run("embedding", { input: Array(100_000).fill(5) }));
    const contextSize = Number(/context of (\d+) tokens/.exec(tooLong.message)?.[1]);
    expect(contextSize).toBeGreaterThan(8);
    // What the engine adds around the tokens given (a beginning and/or end token), to land exactly on the size.
    const added = ((await run("embedding", { input: [5, 5, 5] })).body as { usage: { prompt_tokens: number } }).usage.prompt_tokens - 3;
    const exact = await failureOf(run("embedding", { input: Array(contextSize - added).fill(5) }));
    expect(exact).toMatchObject({ statusCode: 400, retryable: false });
    expect(exact.body).toMatchObject({ error: { type: "invalid_request_error", param: "input" } });
    const fits = (await run("embedding", { input: Array(contextSize - added - 1).fill(5) })).body as { usage: { prompt_tokens: number } };
    expect(fits.usage.prompt_tokens).toBe(contextSize - 1);
  });

  it("rejects dimensions larger than the model's as a non-retryable 400", async () => {
    const error = await failureOf(run("embedding", { input: "x", dimensions: 65 }));
    expect(error).toMatchObject({ kind: "unsupported", statusCode: 400, retryable: false });
    expect(error.body).toMatchObject({ error: { type: "invalid_request_error", param: "dimensions", code: null } });
  });
});

describe("LlamaCppEngine parallel sequences and aborts", () => {
  it("decodes concurrent requests on parallel sequences, never more than configured", async () => {
    let maxBusy = 0;
    const requests = Array.from({ length: 6 }, (_, index) => run("chat", { messages: [{ role: "user", content: `story ${index}` }], max_tokens: 150, temperature: 0 }));
    const settled = Promise.all(requests);
    await waitFor(() => {
      maxBusy = Math.max(maxBusy, engine.stats().busySequences);
      return maxBusy >= 2;
    }, { what: "two sequences in use at once", intervalMs: 2 });
    const replies = await settled;
    expect(replies.every((reply) => reply.statusCode === 200)).toBe(true);
    expect(engine.stats()).toMatchObject({ sequences: 4, busySequences: 0 });
    expect(engine.stats().peakBusySequences).toBeGreaterThanOrEqual(2);
    expect(engine.stats().peakBusySequences).toBeLessThanOrEqual(4);
  });

  it("stops a long generation when its signal is aborted and frees the sequence", async () => {
    const controller = new AbortController();
    const pending = run("chat", longGeneration, controller.signal);
    await waitFor(() => engine.stats().busySequences === 1, { what: "the generation to start", intervalMs: 2 });
    controller.abort(new Error("test abort"));
    const error = await failureOf(pending);
    expect(error).toMatchObject({ kind: "aborted", retryable: false });
    // The engine releases a sequence only after node-llama-cpp returned, so this proves decoding stopped.
    expect(engine.stats().busySequences).toBe(0);
    const after = await run("chat", { messages: [{ role: "user", content: "still alive?" }], max_tokens: 4 });
    expect(after.statusCode).toBe(200);
  });

  it("aborts a request still waiting for a free sequence", async () => {
    const holders = Array.from({ length: 4 }, () => new AbortController());
    const running = holders.map((holder) => run("chat", longGeneration, holder.signal).catch((error: unknown) => error));
    await waitFor(() => engine.stats().busySequences === 4, { what: "all sequences busy", intervalMs: 2 });
    const waiting = new AbortController();
    const queued = run("chat", longGeneration, waiting.signal);
    waiting.abort(new Error("cancelled while queued"));
    expect(await failureOf(queued)).toMatchObject({ kind: "aborted" });
    expect(engine.stats().busySequences).toBe(4);
    for (const holder of holders) holder.abort();
    await Promise.all(running);
    expect(engine.stats().busySequences).toBe(0);
  });
});

describe("LlamaCppEngine errors", () => {
  it.each([
    ["tools", { tools: [{ type: "function", function: { name: "f", parameters: {} } }] }],
    ["tool_choice", { tool_choice: "required" }],
    ["logprobs", { logprobs: true }],
    ["stream", { stream: true }],
  ])("rejects %s as a non-retryable unsupported error naming the field", async (field, extra) => {
    const error = await failureOf(run("chat", { messages: [{ role: "user", content: "hi" }], ...extra }));
    expect(error).toMatchObject({ kind: "unsupported", statusCode: 400, retryable: false });
    expect(error.message).toContain(`'${field}'`);
    expect(error.body).toEqual({ error: { message: error.message, type: "invalid_request_error", param: field, code: null } });
  });

  it("rejects image content parts and tool messages, naming the exact field", async () => {
    const image = await failureOf(run("chat", { messages: [{ role: "user", content: [{ type: "image_url", image_url: { url: "data:," } }] }] }));
    expect(image.body).toMatchObject({ error: { param: "messages[0].content[0].type" } });
    const tool = await failureOf(run("chat", { messages: [{ role: "tool", content: "42", tool_call_id: "x" }] }));
    expect(tool.body).toMatchObject({ error: { param: "messages[0].role" } });
  });

  it("rejects malformed fields with their path", async () => {
    const error = await failureOf(run("chat", { messages: [{ role: "user", content: "hi" }], temperature: 5 }));
    expect(error).toMatchObject({ kind: "unsupported", statusCode: 400, retryable: false });
    expect(error.body).toMatchObject({ error: { param: "temperature" } });
    const missing = await failureOf(run("chat", { messages: [] }));
    expect(missing.body).toMatchObject({ error: { param: "messages" } });
  });

  it("rejects a prompt longer than the context", async () => {
    const error = await failureOf(run("chat", { messages: [{ role: "user", content: "hello ".repeat(3000) }] }));
    expect(error).toMatchObject({ kind: "unsupported", statusCode: 400, retryable: false });
    expect(error.body).toMatchObject({ error: { code: "context_length_exceeded" } });
  });

  it("refuses embeddings for a model configured with embeddings: false", async () => {
    const chatOnly = new LlamaCppEngine({ model: { ...model, name: "chat-only", embeddings: false } });
    const error = await failureOf(chatOnly.execute({ kind: "embedding", dialect: "openai", body: { input: "x" }, model, signal: new AbortController().signal }));
    expect(error).toMatchObject({ kind: "unsupported", statusCode: 400, retryable: false, body: { error: { param: "model" } } });
    await chatOnly.close();
  });

  it("creates its context with the Model's flashAttention, llama.cpp's choice when unset", async () => {
    const loadLines = async (flashAttention?: boolean): Promise<string[]> => {
      const lines: string[] = [];
      const logger = { info: (line: string) => lines.push(line), warn: () => undefined, debug: () => undefined };
      const configured = { ...model, name: `fa-${String(flashAttention)}`, sequences: 1, ...(flashAttention === undefined ? {} : { flashAttention }) };
      const engine = new LlamaCppEngine({ model: configured, logger, probe: false });
      try {
        const reply = await engine.execute({ kind: "chat", dialect: "openai", body: { messages: [{ role: "user", content: "hi" }], max_tokens: 4, seed: 1 }, model: configured, signal: new AbortController().signal });
        expect(reply.statusCode).toBe(200);
      } finally {
        await engine.close();
      }
      return lines.filter((line) => line.startsWith("llama-cpp: loaded"));
    };
    expect(await loadLines(false)).toEqual([expect.stringContaining("flash attention off)")]);
    expect(await loadLines(true)).toEqual([expect.stringContaining("flash attention on)")]);
    expect(await loadLines()).toEqual([expect.stringContaining("flash attention auto)")]);
  });

  it("fails to load a missing model file with a non-retryable engine error", async () => {
    const broken = new LlamaCppEngine({ model: { ...model, name: "missing", path: "/nonexistent/model.gguf" } });
    const error = await failureOf(broken.execute({ kind: "chat", dialect: "openai", body: { messages: [{ role: "user", content: "hi" }] }, model, signal: new AbortController().signal }));
    expect(error).toMatchObject({ kind: "engine", retryable: false });
    expect(error.message).toBe("Model 'missing' cannot be loaded: /nonexistent/model.gguf: file not found");
    await broken.close();
  });
});
