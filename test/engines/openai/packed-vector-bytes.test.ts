/**
 * A packed embedding call's members keep the upstream's bytes of their vectors (decision 0034): at real
 * dimensions serializing each vector again cost as much as parsing the packed reply. Against a small HTTP
 * server that writes its numbers the way some servers do (trailing zeros, exponents), which JSON.stringify
 * would spell differently: the stored text must be the server's, and must still be the member's body.
 */
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { OpenAIModelConfig } from "../../../src/config/config.ts";
import type { EngineReply } from "../../../src/core/engine.ts";
import { deferredMemberText } from "../../../src/core/deferred-json.ts";
import { jsonTextOf } from "../../../src/core/json.ts";
import { OpenAIEngine } from "../../../src/engines/openai/openai-engine.ts";

const DIMENSIONS = 200;

/** Vector `input` of `dimension` numbers, written as a server printing fixed 7 decimals and exponents would. */
function vectorText(input: number): string {
  return `[${Array.from({ length: DIMENSIONS }, (_, d) => (d % 10 === 0 ? `${input + 1}.5000000e-3` : `0.${String((input * 7 + d) % 1000).padStart(3, "0")}0000`)).join(", ")}]`;
}

/** A base64 vector (`encoding_format: "base64"`): a string, found by the reply scan rather than deferred by the parse. */
function base64Vector(input: number): string {
  return Buffer.from(Float32Array.from({ length: 600 }, (_, d) => input + d / 1000).buffer).toString("base64");
}

let server: Server;
let url: string;
const engine = new OpenAIEngine();

beforeAll(async () => {
  server = createServer((request, response) => {
    let text = "";
    request.on("data", (chunk: Buffer) => (text += chunk.toString()));
    request.on("end", () => {
      const body = JSON.parse(text) as { model: string; input: string[]; encoding_format?: string };
      const vector = (index: number): string => (body.encoding_format === "base64" ? JSON.stringify(base64Vector(index)) : vectorText(index));
      const data = body.input.map((_, index) => `{"object": "embedding", "index": ${index}, "embedding": ${vector(index)}}`);
      response.setHeader("content-type", "application/json");
      response.end(`{"object": "list", "data": [${data.join(", ")}], "model": "${body.model}", "usage": {"prompt_tokens": ${body.input.length * 5}, "total_tokens": ${body.input.length * 5}}}`);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1`;
});

afterAll(async () => {
  await engine.close();
  await new Promise((resolve) => server.close(resolve));
});

function model(overrides: Partial<OpenAIModelConfig> = {}): OpenAIModelConfig {
  return { name: "embed", engine: "openai", baseUrl: url, concurrency: 4, timeoutMs: 10_000, maxRetries: 0, ...overrides };
}

async function packOf(count: number, config: OpenAIModelConfig, options: Record<string, unknown> = {}): Promise<EngineReply[]> {
  const bodies = Array.from({ length: count }, (_, index) => ({ model: "embed", input: `text ${index}`, ...options }));
  const replies = await engine.executePack({ dialect: "openai", bodies, model: config, signal: new AbortController().signal });
  return replies.map((reply) => {
    if (!("body" in reply)) throw reply;
    return reply;
  });
}

describe("a packed embedding reply split per input", () => {
  it("stores each member with its vector written as the upstream wrote it", async () => {
    const replies = await packOf(4, model());
    replies.forEach((reply, index) => {
      const text = jsonTextOf(reply.body);
      expect(text).toContain(`"embedding":${vectorText(index)}`);
      // The text is the member's body: one embedding at index 0 and its share of the usage.
      expect(JSON.parse(text)).toEqual(reply.body);
      expect(reply.body).toMatchObject({ object: "list", model: "embed", data: [{ object: "embedding", index: 0 }], usage: { prompt_tokens: 5, total_tokens: 5 } });
    });
  });

  it("never parses the vectors it only passes on: each member's stays the upstream's text until read", async () => {
    const replies = await packOf(4, model());
    replies.forEach((reply, index) => {
      const entry = (reply.body as { data: Record<string, unknown>[] }).data[0]!;
      // Long vectors are left unparsed by the reply's parse (core/deferred-json.ts) and by the split.
      expect(deferredMemberText(entry, "embedding")).toBe(vectorText(index));
      expect(entry.embedding).toEqual(JSON.parse(vectorText(index)));
      expect(deferredMemberText(entry, "embedding")).toBeNull();
    });
  });

  it("splices base64 vectors (strings, found by scanning the reply) as the upstream wrote them", async () => {
    const replies = await packOf(3, model(), { encoding_format: "base64" });
    replies.forEach((reply, index) => {
      const text = jsonTextOf(reply.body);
      expect(text).toContain(`"embedding":"${base64Vector(index)}"`);
      expect(JSON.parse(text)).toEqual(reply.body);
      expect((reply.body as { data: { embedding: string }[] }).data[0]!.embedding).toBe(base64Vector(index));
    });
  });

  it("keeps the bytes when the reply is renamed to the client's Model name (upstreamModel)", async () => {
    const replies = await packOf(3, model({ upstreamModel: "BAAI/bge-upstream" }));
    replies.forEach((reply, index) => {
      const text = jsonTextOf(reply.body);
      expect(text).toContain(`"embedding":${vectorText(index)}`);
      expect(JSON.parse(text)).toEqual(reply.body);
      expect((reply.body as { model: string }).model).toBe("embed");
    });
  });
});
