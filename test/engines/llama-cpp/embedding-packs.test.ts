/**
 * The llama-cpp Engine's embedding packs on the generated tiny model: a pack gives every body exactly the
 * reply it gets alone (vectors, usage, errors), and the Dispatcher turns a claim of embedding Items into
 * one call per pack.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { LlamaCppModelConfig } from "../../../src/config/config.ts";
import { EngineError, type EngineReply } from "../../../src/core/engine.ts";
import { ModelDispatcher } from "../../../src/dispatch/model-dispatcher.ts";
import { LlamaCppEngine } from "../../../src/engines/llama-cpp/llama-cpp-engine.ts";
import { ensureTinyModel } from "../../helpers/test-model.ts";

let model: LlamaCppModelConfig;
let engine: LlamaCppEngine;

beforeAll(async () => {
  const path = await ensureTinyModel();
  model = { name: "tiny-embed", engine: "llama-cpp", path, concurrency: 2, timeoutMs: 60_000, maxRetries: 0, threads: 1, sequences: 2, embeddingPack: { maxItems: 8 } };
  engine = new LlamaCppEngine({ model, probe: false });
  await engine.warmup();
});

afterAll(async () => {
  await engine?.close();
});

const signal = (): AbortSignal => new AbortController().signal;
const alone = (body: Record<string, unknown>): Promise<EngineReply> => engine.execute({ kind: "embedding", dialect: "openai", body, model, signal: signal() });
const texts = Array.from({ length: 12 }, (_, i) => `embedding input ${i}: ${"more words ".repeat(i)}`);

describe("LlamaCppEngine embedding packs", () => {
  it("keys single inputs by their options and runs lists, empty inputs and embeddings: false alone", () => {
    const key = (body: Record<string, unknown>, config = model): string | null =>
      new LlamaCppEngine({ model: config, probe: false }).packKey({ dialect: "openai", body, model: config })?.key ?? null;
    expect(key({ input: "a" })).toBe(key({ input: ["b"], model: "other-name" }));
    expect(key({ input: "a", dimensions: 16 })).not.toBe(key({ input: "a" }));
    expect(key({ input: [1, 2, 3] })).not.toBe(key({ input: "a" }));
    expect(key({ input: ["a", "b"] })).toBeNull();
    expect(key({ input: "" })).toBeNull();
    expect(key({ input: "a" }, { ...model, embeddings: false })).toBeNull();
  });

  it("returns for each body of a pack the same vector and usage as a call of its own", async () => {
    const bodies = texts.map((input) => ({ input, dimensions: 16 }));
    const packed = await engine.executePack({ dialect: "openai", bodies, model, signal: signal() });
    const single = await Promise.all(bodies.map(alone));
    expect(packed).toHaveLength(bodies.length);
    packed.forEach((reply, i) => {
      expect(reply).not.toBeInstanceOf(EngineError);
      expect((reply as EngineReply).body).toEqual(single[i]?.body);
      expect((reply as EngineReply).usage).toEqual(single[i]?.usage);
    });
    // Different texts, different vectors: the comparison above is not comparing one vector with itself.
    expect(new Set(packed.map((reply) => JSON.stringify((reply as EngineReply).body))).size).toBe(bodies.length);
  });

  it("fails only the member whose input the model cannot take", async () => {
    const bodies = [{ input: "fine" }, { input: [1_000_000] }, { input: "also fine" }];
    const packed = await engine.executePack({ dialect: "openai", bodies, model, signal: signal() });
    expect(packed[1]).toBeInstanceOf(EngineError);
    expect(packed[1]).toMatchObject({ statusCode: 400, body: { error: { param: "input" } } });
    expect((packed[0] as EngineReply).body).toEqual((await alone({ input: "fine" })).body);
    expect((packed[2] as EngineReply).body).toEqual((await alone({ input: "also fine" })).body);
  });

  it("packs Items dispatched together into one engine call per maxItems, with identical replies", async () => {
    const dispatcher = new ModelDispatcher({ resolve: () => ({ engine, model }) });
    try {
      const requests = texts.map((input) => ({ model: model.name, kind: "embedding" as const, dialect: "openai" as const, body: { input }, priority: "batch" as const }));
      const { calls, replies } = dispatcher.dispatchItems(requests);
      expect(calls).toBe(2); // 12 Items, maxItems 8
      const packed = await Promise.all(replies);
      const single = await Promise.all(requests.map((request) => alone(request.body)));
      expect(packed.map((reply) => reply.body)).toEqual(single.map((reply) => reply.body));
    } finally {
      await dispatcher.close();
    }
  });
});
