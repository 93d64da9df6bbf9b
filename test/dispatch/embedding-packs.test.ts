/**
 * Embedding packing in the ModelDispatcher (dispatchItems), over a real `openai` Engine (and the real
 * translating wrapper) against the in-process fake upstream: how Items are grouped and bounded, how the
 * packed reply is split back with per-Item usage, and what happens when a packed call fails.
 */
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { OpenAIModelConfig } from "../../src/config/config.ts";
import type { DispatchRequest } from "../../src/core/dispatcher.ts";
import { EngineError, type EngineReply } from "../../src/core/engine.ts";
import { withTranslation } from "../../src/dialects/translate/translating-engine.ts";
import { ModelDispatcher, type Sleep } from "../../src/dispatch/model-dispatcher.ts";
import { OpenAIEngine } from "../../src/engines/openai/openai-engine.ts";
import { embeddingOf, failFirstAttempts, startFakeOpenAIUpstream, type FakeOpenAIUpstream } from "../helpers/fake-openai-upstream.ts";
import { waitFor } from "../helpers/wait-for.ts";

const MODEL = "embed-test";
const noSleep: Sleep = () => Promise.resolve();

type EmbeddingList = { object: string; data: { index: number; embedding: number[] | string }[]; usage?: { prompt_tokens: number; total_tokens: number } };

function embedding(text: string, extra: Record<string, unknown> = {}, dialect: "openai" | "gemini" = "openai"): DispatchRequest {
  const body = dialect === "openai" ? { model: MODEL, input: text, ...extra } : { content: { parts: [{ text }] }, ...extra };
  return { model: MODEL, kind: "embedding", dialect, body, priority: "batch" };
}

/** Every reply, or the error in its place. */
async function settled(replies: Promise<EngineReply>[]): Promise<(EngineReply | unknown)[]> {
  return Promise.all(replies.map((reply) => reply.catch((error: unknown) => error)));
}

function listOf(reply: unknown): EmbeddingList {
  return (reply as EngineReply).body as EmbeddingList;
}

/** The fake's token count for one text (four characters a token). */
const tokensOf = (text: string): number => Math.ceil(text.length / 4);

describe("ModelDispatcher.dispatchItems packs single-input embedding requests", () => {
  let upstream: FakeOpenAIUpstream;
  let engine: OpenAIEngine;
  let model: OpenAIModelConfig;
  let dispatcher: ModelDispatcher;

  beforeEach(async () => {
    upstream = await startFakeOpenAIUpstream({ record: true, rejectInput: (text) => text.startsWith("BAD") });
    engine = new OpenAIEngine();
    model = { name: MODEL, engine: "openai", baseUrl: upstream.url, concurrency: 4, timeoutMs: 10_000, maxRetries: 2, embeddingPack: { maxItems: 16 } };
    const translating = withTranslation(engine);
    dispatcher = new ModelDispatcher({ resolve: (name) => (name === MODEL ? { engine: translating, model } : undefined), sleep: noSleep });
  });

  afterEach(async () => {
    await dispatcher.close();
    await engine.close();
    await upstream.close();
  });

  it("sends 100 Items as ceil(100 / maxItems) calls and gives each its own vector and usage", async () => {
    const texts = Array.from({ length: 100 }, (_, i) => `item number ${i}${"!".repeat(i % 7)}`);
    const { replies, calls } = dispatcher.dispatchItems(texts.map((text) => embedding(text)));
    expect(calls).toBe(7);
    const results = await settled(replies);
    expect(upstream.received).toHaveLength(7);
    expect(upstream.received.map((request) => (request.body.input as string[]).length)).toEqual([16, 16, 16, 16, 16, 16, 4]);
    results.forEach((reply, i) => {
      const list = listOf(reply);
      expect(list.data).toEqual([{ object: "embedding", index: 0, embedding: embeddingOf(texts[i]!, 8) }]);
      // The fake counts ceil(length / 4) per input; the split by estimate gives each Item exactly that.
      expect(list.usage).toEqual({ prompt_tokens: tokensOf(texts[i]!), total_tokens: tokensOf(texts[i]!) });
      expect((reply as EngineReply).usage).toEqual({ inputTokens: tokensOf(texts[i]!), outputTokens: 0 });
    });
  });

  it("keeps a pack within maxTokens of estimated input", async () => {
    model.embeddingPack = { maxItems: 64, maxTokens: 50 };
    const texts = Array.from({ length: 12 }, (_, i) => `${"x".repeat(36)}${String(i).padStart(4, "0")}`); // 10 tokens each
    const { calls, replies } = dispatcher.dispatchItems(texts.map((text) => embedding(text)));
    await settled(replies);
    expect(calls).toBe(3);
    expect(upstream.received.map((request) => (request.body.input as string[]).length)).toEqual([5, 5, 2]);
  });

  it("packs only bodies with the same options, and runs multi-input and sync requests alone", async () => {
    const requests = [
      embedding("plain a"),
      embedding("small a", { dimensions: 3 }),
      embedding("plain b"),
      embedding("small b", { dimensions: 3 }),
      embedding("base64 a", { encoding_format: "base64" }),
      { ...embedding("list"), body: { model: MODEL, input: ["two", "inputs"] } },
      { ...embedding("sync a"), priority: "sync" as const },
      { ...embedding("sync b"), priority: "sync" as const },
    ];
    const { calls, replies } = dispatcher.dispatchItems(requests);
    const results = await settled(replies);
    expect(calls).toBe(6);
    const inputs = upstream.received.map((request) => request.body.input);
    expect(inputs).toEqual(expect.arrayContaining([["plain a", "plain b"], ["small a", "small b"], "base64 a", ["two", "inputs"], "sync a", "sync b"]));
    expect(inputs).toHaveLength(6);
    expect(listOf(results[3]).data[0]?.embedding).toEqual(embeddingOf("small b", 3));
    expect(listOf(results[5]).data).toHaveLength(2);
  });

  it("runs every Item of a packed call alone when the upstream refuses one input, so only that Item fails", async () => {
    const texts = ["good 0", "good 1", "good 2", "BAD 3", "good 4", "good 5"];
    const results = await settled(dispatcher.dispatchItems(texts.map((text) => embedding(text))).replies);
    const packed = upstream.received[0];
    expect(packed?.body.input).toEqual(texts);
    expect(upstream.received).toHaveLength(1 + texts.length);
    const bad = results[3];
    expect(bad).toBeInstanceOf(EngineError);
    // The Item's own error, as it gets when sent alone: it names `input`, not the pack's `input[3]`.
    expect(bad).toMatchObject({ statusCode: 400, body: { error: { param: "input" } } });
    for (const index of [0, 1, 2, 4, 5]) expect(listOf(results[index]).data[0]?.embedding).toEqual(embeddingOf(texts[index]!, 8));
  });

  it("retries a packed call that failed with a 5xx as a whole", async () => {
    upstream.setFault(failFirstAttempts(1, { status: 503 }));
    const texts = ["r0", "r1", "r2"];
    const results = await settled(dispatcher.dispatchItems(texts.map((text) => embedding(text))).replies);
    expect(upstream.received.map((request) => request.body.input)).toEqual([texts, texts]);
    results.forEach((reply, i) => expect(listOf(reply).data[0]?.embedding).toEqual(embeddingOf(texts[i]!, 8)));
  });

  it("gives every member the last error when the retries of a packed call are spent", async () => {
    upstream.setFault(() => ({ status: 500 }));
    const results = await settled(dispatcher.dispatchItems(["d0", "d1"].map((text) => embedding(text))).replies);
    expect(upstream.requests).toBe(3); // one call and maxRetries 2, never one per Item
    for (const result of results) expect(result).toMatchObject({ statusCode: 500, retryable: true });
  });

  it("falls back to one call per Item when the packed reply cannot be split", async () => {
    upstream.setFault(({ body }) => (Array.isArray(body.input) ? { status: 200, body: { object: "list", data: [{ object: "embedding", index: 0, embedding: [1] }], model: MODEL } } : undefined));
    const texts = ["s0", "s1", "s2"];
    const results = await settled(dispatcher.dispatchItems(texts.map((text) => embedding(text))).replies);
    expect(upstream.received.map((request) => request.body.input)).toEqual([texts, ...texts]);
    results.forEach((reply, i) => expect(listOf(reply).data[0]?.embedding).toEqual(embeddingOf(texts[i]!, 8)));
  });

  it("packs Gemini-dialect Items through translation and fits each reply to its own outputDimensionality", async () => {
    const requests = [embedding("g0", { outputDimensionality: 4 }, "gemini"), embedding("g1", {}, "gemini"), embedding("g2", { taskType: "RETRIEVAL_QUERY" }, "gemini")];
    const { calls, replies } = dispatcher.dispatchItems(requests);
    const results = (await Promise.all(replies)).map((reply) => reply.body as { embedding: { values: number[] } });
    // Translated bodies differ in `dimensions` where outputDimensionality is set: g1 and g2 share a call.
    expect(calls).toBe(2);
    expect(upstream.received.map((request) => request.body.input)).toEqual(expect.arrayContaining(["g0", ["g1", "g2"]]));
    expect(results[0]?.embedding.values).toEqual(embeddingOf("g0", 4));
    expect(results[1]?.embedding.values).toEqual(embeddingOf("g1", 8));
    expect(results[2]?.embedding.values).toEqual(embeddingOf("g2", 8));
  });

  it("does not pack when the Model's maxItems is 1", async () => {
    model.embeddingPack = { maxItems: 1 };
    const { calls, replies } = dispatcher.dispatchItems(["u0", "u1", "u2"].map((text) => embedding(text)));
    await Promise.all(replies);
    expect(calls).toBe(3);
    expect(upstream.received.map((request) => request.body.input)).toEqual(expect.arrayContaining(["u0", "u1", "u2"]));
  });

  it("lets a sync embedding request overtake queued packs, alone", async () => {
    model.concurrency = 1;
    let open = (): void => undefined;
    const held = new Promise<void>((resolve) => (open = resolve));
    upstream.setFault(({ n }) => (n === 1 ? { until: held } : undefined));
    const { replies } = dispatcher.dispatchItems(Array.from({ length: 48 }, (_, i) => embedding(`queued ${i}`)));
    await waitFor(() => upstream.inFlight === 1, { what: "the first pack at the upstream" });
    const sync = dispatcher.dispatch({ ...embedding("sync now"), priority: "sync" });
    expect(dispatcher.load(MODEL)).toEqual({ running: 1, waiting: 3, concurrency: 1 });
    open();
    await Promise.all([sync, ...replies]);
    const inputs = upstream.received.map((request) => request.body.input);
    expect(inputs[1]).toBe("sync now");
    expect(inputs.map((input) => (Array.isArray(input) ? input.length : 1))).toEqual([16, 1, 16, 16]);
  });

  it("takes one slot per packed call", async () => {
    model.concurrency = 1;
    upstream.setFault(() => ({ delayMs: 20 }));
    const { replies } = dispatcher.dispatchItems(Array.from({ length: 48 }, (_, i) => embedding(`slot ${i}`)));
    await Promise.all(replies);
    expect(upstream.received).toHaveLength(3);
    expect(upstream.maxInFlight).toBe(1);
  });
});
