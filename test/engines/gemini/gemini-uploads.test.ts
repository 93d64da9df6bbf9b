/**
 * The gemini Engine's uploads of spool Files to the Gemini Files API (Engine.fileReference): one upload per
 * File and upstream however many requests name it, reused afterwards, and not failed for everyone when the
 * request that started it is aborted.
 */
import { randomBytes } from "node:crypto";
import { Readable } from "node:stream";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { GeminiModelConfig } from "../../../src/config/config.ts";
import type { EngineRequest } from "../../../src/core/engine.ts";
import type { MediaFile } from "../../../src/core/media.ts";
import { GeminiEngine } from "../../../src/engines/gemini/gemini-engine.ts";
import { startFakeGeminiUpstream, type FakeGeminiUpstream } from "../../helpers/fake-gemini-upstream.ts";

let upstream: FakeGeminiUpstream;
let engine: GeminiEngine;

beforeAll(async () => {
  upstream = await startFakeGeminiUpstream();
  engine = new GeminiEngine();
});

afterAll(async () => {
  await engine?.close();
  await upstream?.close();
});

function request(signal: AbortSignal): EngineRequest {
  const model: GeminiModelConfig = { name: "g", engine: "gemini", baseUrl: upstream.baseUrl, concurrency: 4, timeoutMs: 10_000, maxRetries: 0 };
  return { kind: "chat", dialect: "gemini", body: {}, model, signal };
}

function mediaFile(id: string, bytes: Buffer): { file: MediaFile; open: () => Promise<Readable>; opened: () => number } {
  let opened = 0;
  return {
    file: { id, mimeType: "video/mp4", bytes: bytes.length, sha256: id, filename: `${id}.mp4` },
    open: async () => {
      opened += 1;
      return Readable.from([bytes]);
    },
    opened: () => opened,
  };
}

describe("gemini Engine file references", () => {
  it("uploads a File once for concurrent requests and reuses the upload afterwards", async () => {
    const bytes = randomBytes(300_000);
    const media = mediaFile("file-one", bytes);
    const uris = await Promise.all(Array.from({ length: 10 }, () => engine.fileReference(media.file, media.open, request(new AbortController().signal))));
    uris.push(await engine.fileReference(media.file, media.open, request(new AbortController().signal)));
    expect(new Set(uris).size).toBe(1);
    expect(media.opened()).toBe(1);
    const uploaded = upstream.files.get(uris[0] ?? "");
    expect(uploaded?.mimeType).toBe("video/mp4");
    expect(uploaded?.bytes.equals(bytes)).toBe(true);
  });

  it("keeps an upload going for the others when the request that started it is aborted", async () => {
    const media = mediaFile("file-two", randomBytes(1000));
    const first = new AbortController();
    const started = engine.fileReference(media.file, media.open, request(first.signal));
    const second = engine.fileReference(media.file, media.open, request(new AbortController().signal));
    first.abort(new Error("cancelled"));
    await expect(started).rejects.toMatchObject({ name: "EngineError" });
    expect(upstream.files.has(await second)).toBe(true);
    expect(media.opened()).toBe(1);
  });
});
