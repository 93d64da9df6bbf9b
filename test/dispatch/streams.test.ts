/**
 * ModelDispatcher.dispatchStream: a streamed reply holds its slot until it ends, fails or its reader stops
 * (even before reading anything), a reader that stops aborts the Engine call, and failures before the
 * reply begins are retried like any request.
 */
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { ModelConfig } from "../../src/config/config.ts";
import { EngineError, type Engine, type EngineReply, type EngineRequest, type EngineStream, type StreamChunk } from "../../src/core/engine.ts";
import { ModelDispatcher } from "../../src/dispatch/model-dispatcher.ts";

/** Streams `chunks` chunks, one per `next()`; `opens` failures first throw a retryable 503 before the reply. */
class CountingStreamEngine implements Engine {
  readonly name = "counting";
  readonly dialect = "openai" as const;
  opened = 0;
  aborted = 0;
  failOpens = 0;

  async execute(): Promise<EngineReply> {
    throw new Error("not used");
  }

  async stream(request: EngineRequest): Promise<EngineStream> {
    this.opened += 1;
    if (this.failOpens > 0) {
      this.failOpens -= 1;
      throw new EngineError({ kind: "http", message: "busy", statusCode: 503, retryable: true });
    }
    request.signal.addEventListener("abort", () => (this.aborted += 1), { once: true });
    const count = Number(request.body.chunks ?? 3);
    async function* chunks(): AsyncGenerator<StreamChunk> {
      for (let index = 0; index < count; index += 1) yield { event: null, data: { index } };
    }
    return { requestId: null, chunks: chunks() };
  }

  async close(): Promise<void> {}
}

describe("ModelDispatcher.dispatchStream", () => {
  let engine: CountingStreamEngine;
  let dispatcher: ModelDispatcher;
  const model: ModelConfig = { name: "streamer", engine: "openai", baseUrl: "http://127.0.0.1:9/v1", concurrency: 1, timeoutMs: 60_000, maxRetries: 2 };
  const open = (chunks = 3) => dispatcher.dispatchStream({ model: model.name, kind: "chat", dialect: "openai", body: { chunks }, priority: "sync" });

  beforeEach(() => {
    engine = new CountingStreamEngine();
    dispatcher = new ModelDispatcher({ resolve: () => ({ engine, model }), sleep: async () => undefined });
  });

  afterEach(() => dispatcher.close());

  it("holds the slot until the reply is read to its end", async () => {
    const stream = await open(3);
    expect(dispatcher.load(model.name).running).toBe(1);
    const read: unknown[] = [];
    for await (const chunk of stream.chunks) {
      read.push(chunk.data);
      expect(dispatcher.load(model.name).running).toBe(1);
    }
    expect(read).toEqual([{ index: 0 }, { index: 1 }, { index: 2 }]);
    expect(dispatcher.load(model.name).running).toBe(0);
    expect(engine.aborted).toBe(0);
  });

  it("frees the slot and aborts the Engine call when the reader stops, even before reading anything", async () => {
    const first = await open(100);
    const waiting = open(1);
    expect(dispatcher.load(model.name)).toMatchObject({ running: 1, waiting: 1 });
    await first.chunks[Symbol.asyncIterator]().return?.();
    expect(engine.aborted).toBe(1);
    const second = await waiting;
    for await (const _chunk of second.chunks) break;
    expect(dispatcher.load(model.name)).toMatchObject({ running: 0, waiting: 0 });
    expect(engine.aborted).toBe(2);
  });

  it("retries a failure before the reply begins", async () => {
    engine.failOpens = 2;
    const stream = await open(2);
    const read = [];
    for await (const chunk of stream.chunks) read.push(chunk);
    expect(read).toHaveLength(2);
    expect(engine.opened).toBe(3);
  });

  it("refuses a Model whose Engine cannot stream with a 400", async () => {
    const plain: Engine = { name: "plain", dialect: "openai", execute: async () => ({ statusCode: 200, body: {}, usage: { inputTokens: 0, outputTokens: 0 }, requestId: null }), close: async () => undefined };
    const other = new ModelDispatcher({ resolve: () => ({ engine: plain, model }) });
    await expect(other.dispatchStream({ model: model.name, kind: "chat", dialect: "openai", body: {}, priority: "sync" })).rejects.toMatchObject({ kind: "unsupported", statusCode: 400 });
    await other.close();
  });
});
