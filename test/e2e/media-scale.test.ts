/**
 * Scale of media references (issue 18): a Batch naming one 5 MB image reads it from the BlobStore once
 * and keeps one copy in memory: on the gemini engine 2,000 Items name one upload; on an engine taking media
 * inline every Item sends the 6.7 MB of base64 (100 Items here: both ends of those requests run in this
 * process on a shared 2-core machine; bench section `media` measures more).
 */
import { randomBytes } from "node:crypto";
import v8 from "node:v8";
import vm from "node:vm";
import { GoogleGenAI, type InlinedRequest } from "@google/genai";
import OpenAI, { toFile } from "openai";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startFakeGeminiUpstream, type FakeGeminiUpstream } from "../helpers/fake-gemini-upstream.ts";
import { startFakeOpenAIUpstream, type FakeOpenAIUpstream } from "../helpers/fake-openai-upstream.ts";
import { startTestApp, type TestApp } from "../helpers/spool-app.ts";
import { waitFor } from "../helpers/wait-for.ts";

const ITEMS = 2_000;
/** Inline Items each carry the 5 MB (6.7 MB of base64) through both ends of this process: fewer of them. */
const INLINE_ITEMS = Number(process.env.MEDIA_ITEMS ?? 100);
const image = randomBytes(5 * 1024 * 1024);
const expectedDataUrl = `data:image/jpeg;base64,${image.toString("base64")}`;

let openaiUpstream: FakeOpenAIUpstream;
let geminiUpstream: FakeGeminiUpstream;
let spool: TestApp;

beforeAll(async () => {
  openaiUpstream = await startFakeOpenAIUpstream();
  geminiUpstream = await startFakeGeminiUpstream();
  spool = await startTestApp(
    {
      models: [
        { name: "vision", engine: "openai", baseUrl: openaiUpstream.url, concurrency: 4, adaptive: false },
        { name: "gemini-vision", engine: "gemini", baseUrl: geminiUpstream.baseUrl, concurrency: 16 },
      ],
      worker: { sweepMs: 50, pollMs: 50 },
    },
    { label: "media-scale" },
  );
}, 60_000);

afterAll(async () => {
  await spool?.stop();
  await Promise.all([openaiUpstream?.close(), geminiUpstream?.close()]);
});

v8.setFlagsFromString("--expose-gc");
const collectGarbage = vm.runInNewContext("gc") as () => void;

/** Heap in use once garbage is collected: what the process keeps, not what it has yet to free. */
function retainedHeap(): number {
  collectGarbage();
  collectGarbage();
  return process.memoryUsage().heapUsed;
}

/**
 * Runs `run`, sampling the live heap (collected before each sample): the highest seen above the start and
 * what is still held after it, both against the heap before.
 */
async function heapGrowth<T>(run: () => Promise<T>): Promise<{ result: T; peakBytes: number; retainedBytes: number }> {
  const start = retainedHeap();
  let peak = start;
  // Live data, not garbage: how much garbage the heap holds before V8 collects it is V8's choice, so a
  // plain heapUsed peak made this test pass or fail with GC timing. Each sample collects first.
  const timer = setInterval(() => (peak = Math.max(peak, retainedHeap())), 250);
  try {
    const result = await run();
    return { result, peakBytes: peak - start, retainedBytes: retainedHeap() - start };
  } finally {
    clearInterval(timer);
  }
}

describe("a 2,000-Item Batch naming one 5 MB image", () => {
  it("sends it inline to every Item from one BlobStore read, keeping one copy in memory", async () => {
    const openai = new OpenAI({ apiKey: "k", baseURL: spool.openaiBaseUrl, maxRetries: 0 });
    const uploaded = await openai.files.create({ file: await toFile(image, "ad.jpg", { type: "image/jpeg" }), purpose: "vision" });
    let good = 0;
    openaiUpstream.setFault(({ body }) => {
      const content = (body.messages as { content: { type: string; image_url?: { url: string } }[] }[])[0]?.content ?? [];
      if (content[1]?.image_url?.url !== expectedDataUrl) return { status: 400 };
      good += 1;
      return undefined;
    });
    const lines = Array.from({ length: INLINE_ITEMS }, (_, i) =>
      JSON.stringify({ custom_id: `ad-${i}`, method: "POST", url: "/v1/chat/completions", body: { model: "vision", messages: [{ role: "user", content: [{ type: "text", text: `tags for ad ${i}` }, { type: "file", file: { file_id: uploaded.id } }] }] } }),
    );
    const input = await openai.files.create({ file: await toFile(Buffer.from(lines.join("\n")), "ads.jsonl"), purpose: "batch" });
    const readsBefore = spool.app.context.media.stats().blobReads;
    const { result: batch, peakBytes, retainedBytes } = await heapGrowth(async () => {
      const created = await openai.batches.create({ input_file_id: input.id, endpoint: "/v1/chat/completions", completion_window: "24h" });
      return waitFor(async () => {
        const current = await openai.batches.retrieve(created.id);
        return ["completed", "failed"].includes(current.status) ? current : undefined;
      }, { timeoutMs: 240_000, intervalMs: 200 });
    });
    expect(batch.request_counts).toEqual({ total: INLINE_ITEMS, completed: INLINE_ITEMS, failed: 0 });
    expect(good).toBe(INLINE_ITEMS);
    expect(spool.app.context.media.stats().blobReads - readsBefore).toBe(1);
    // Kept: the one cached copy (6.7 MB of base64), not one per Item (670 MB). At the peak: what runs at once
    // (4 requests, each body serialized at both ends of this process).
    expect(retainedBytes).toBeLessThan(64 * 1024 * 1024);
    expect(peakBytes).toBeLessThan(INLINE_ITEMS * image.length);
    const output = await (await openai.files.content(batch.output_file_id ?? "")).text();
    expect(output.length).toBeLessThan(INLINE_ITEMS * 1024);
  }, 300_000);

  it("uploads it once to the gemini engine's Files API and names it in every Item", async () => {
    const ai = new GoogleGenAI({ apiKey: "k", httpOptions: { baseUrl: spool.url } });
    const file = await ai.files.upload({ file: new Blob([new Uint8Array(image)]), config: { mimeType: "image/jpeg" } });
    const readsBefore = spool.app.context.media.stats().blobReads;
    const before = geminiUpstream.received.length;
    const src: InlinedRequest[] = Array.from({ length: ITEMS }, (_, i) => ({ contents: [{ role: "user", parts: [{ text: `label ${i}` }, { fileData: { fileUri: file.uri ?? "" } }] }] }));
    const { result: job, peakBytes, retainedBytes } = await heapGrowth(async () => {
      const created = await ai.batches.create({ model: "gemini-vision", src });
      return waitFor(async () => {
        const current = await ai.batches.get({ name: created.name ?? "" });
        return current.state === "JOB_STATE_SUCCEEDED" || current.state === "JOB_STATE_FAILED" ? current : undefined;
      }, { timeoutMs: 240_000, intervalMs: 200 });
    });
    expect(job.state).toBe("JOB_STATE_SUCCEEDED");
    expect(job.dest?.inlinedResponses?.filter((each) => each.error === undefined)).toHaveLength(ITEMS);
    expect(geminiUpstream.files.size).toBe(1);
    const [uri] = [...geminiUpstream.files.keys()];
    const requests = geminiUpstream.received.slice(before);
    expect(requests).toHaveLength(ITEMS);
    for (const request of requests) expect((request.body.contents as { parts: { fileData?: { fileUri: string } }[] }[])[0]?.parts[1]?.fileData?.fileUri).toBe(uri);
    expect(spool.app.context.media.stats().blobReads - readsBefore).toBe(1);
    expect(retainedBytes).toBeLessThan(64 * 1024 * 1024);
    expect(peakBytes).toBeLessThan(256 * 1024 * 1024);
  }, 300_000);
});
