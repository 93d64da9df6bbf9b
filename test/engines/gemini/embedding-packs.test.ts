/**
 * The gemini Engine's embedding packs: single embedContent bodies, whatever their options, go out as one
 * batchEmbedContents call and come back as the embedContent replies each would have got alone.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { GeminiModelConfig } from "../../../src/config/config.ts";
import { deferredMemberText } from "../../../src/core/deferred-json.ts";
import { EngineError } from "../../../src/core/engine.ts";
import { jsonTextOf, knownSourceText } from "../../../src/core/json.ts";
import { GeminiEngine } from "../../../src/engines/gemini/gemini-engine.ts";
import { embeddingOf } from "../../helpers/fake-openai-upstream.ts";
import { startFakeGeminiUpstream, type FakeGeminiUpstream } from "../../helpers/fake-gemini-upstream.ts";

let upstream: FakeGeminiUpstream;
let engine: GeminiEngine;
let model: GeminiModelConfig;

beforeAll(async () => {
  upstream = await startFakeGeminiUpstream();
  engine = new GeminiEngine();
  model = { name: "gemini-embed", engine: "gemini", baseUrl: upstream.baseUrl, concurrency: 2, timeoutMs: 10_000, maxRetries: 0 };
});

afterAll(async () => {
  await engine.close();
  await upstream.close();
});

const embed = (text: string, extra: Record<string, unknown> = {}): Record<string, unknown> => ({ model: "models/whatever", content: { parts: [{ text }] }, ...extra });

describe("GeminiEngine embedding packs", () => {
  it("gives every single embedContent body the same key, and none to a batch or non-text body", () => {
    const key = (body: Record<string, unknown>) => engine.packKey({ dialect: "gemini", body, model });
    expect(key(embed("a"))?.key).toBe(key(embed("bb", { taskType: "RETRIEVAL_QUERY", outputDimensionality: 3 }))?.key);
    expect(key(embed("twelve chars"))?.estimatedTokens).toBe(3);
    expect(key({ requests: [embed("a")] })).toBeNull();
    expect(key({ content: { parts: [{ inlineData: { mimeType: "image/png", data: "" } }] } })).toBeNull();
    expect(engine.packKey({ dialect: "openai", body: { input: "a" }, model })).toBeNull();
  });

  it("sends a pack as one batchEmbedContents call and answers each body as embedContent would", async () => {
    const bodies = [embed("first", { outputDimensionality: 3 }), embed("second", { taskType: "RETRIEVAL_DOCUMENT", title: "T" }), embed("third")];
    const before = upstream.received.length;
    const replies = await engine.executePack({ dialect: "gemini", bodies, model, signal: new AbortController().signal });
    const sent = upstream.received.slice(before);
    expect(sent.map((request) => request.method)).toEqual(["batchEmbedContents"]);
    // Google wants the URL's model on every inner request, and each keeps its own options.
    expect(sent[0]?.body.requests).toEqual(bodies.map((body) => ({ ...body, model: "models/gemini-embed" })));
    expect(replies.map((reply) => (reply instanceof EngineError ? reply : reply.body))).toEqual([
      { embedding: { values: embeddingOf("first", 3) } },
      { embedding: { values: embeddingOf("second", 8) } },
      { embedding: { values: embeddingOf("third", 8) } },
    ]);
  });

  it("passes real-size vectors on as the upstream's text, parsed only if read", async () => {
    const bodies = [embed("long one", { outputDimensionality: 768 }), embed("long two", { outputDimensionality: 768 })];
    const replies = await engine.executePack({ dialect: "gemini", bodies, model, signal: new AbortController().signal });
    replies.forEach((reply, index) => {
      if (reply instanceof EngineError) throw reply;
      const embedding = (reply.body as { embedding: Record<string, unknown> }).embedding;
      const vectorText = deferredMemberText(embedding, "values");
      expect(vectorText).not.toBeNull();
      // The member's stored text holds the vector as sent, and is the member: nothing was parsed to write it.
      expect(knownSourceText(reply.body as object)).toContain(`"values":${vectorText}`);
      expect(deferredMemberText(embedding, "values")).toBe(vectorText);
      expect(JSON.parse(jsonTextOf(reply.body))).toEqual({ embedding: { values: embeddingOf(index === 0 ? "long one" : "long two", 768) } });
      expect(embedding.values).toEqual(embeddingOf(index === 0 ? "long one" : "long two", 768));
    });
  });

  it("refuses to split a reply with the wrong number of embeddings", async () => {
    upstream.setFault(() => ({ status: 200, body: { embeddings: [{ values: [1] }] } }));
    try {
      const error = await engine.executePack({ dialect: "gemini", bodies: [embed("x"), embed("y")], model, signal: new AbortController().signal }).catch((caught: unknown) => caught);
      expect(error).toBeInstanceOf(EngineError);
      expect(error).toMatchObject({ retryable: false });
    } finally {
      upstream.setFault(null);
    }
  });
});
