/**
 * (media) Multimodal Batches (issue 18): Items naming one image, three ways, in one spool process with
 * in-process stand-ins for the upstreams (their work is counted in the same process, so the figures are
 * conservative for spool):
 * - inline: the image's base64 in every line (what clients do without references): the input file holds
 *   it once per Item, and validation parses it once per Item;
 * - by reference on an `openai` engine: each line names the File; spool reads it once and inlines it from
 *   its cache into each request;
 * - by reference on the `gemini` engine: spool uploads the File once and every request names the upload.
 * Figures: input file size, create -> completed time, Items/s, BlobStore reads of the image, and the heap
 * held after the Batch (garbage collected) against before.
 */
import { randomBytes } from "node:crypto";
import v8 from "node:v8";
import vm from "node:vm";
import OpenAI, { toFile } from "openai";
import { startFakeGeminiUpstream } from "../test/helpers/fake-gemini-upstream.ts";
import { startFakeOpenAIUpstream } from "../test/helpers/fake-openai-upstream.ts";
import { startTestApp } from "../test/helpers/spool-app.ts";
import { loadNote, mb, ratio, row, timed } from "./lib.ts";

const ITEMS = Number(process.env.BENCH_MEDIA_ITEMS ?? 200);
const IMAGE_BYTES = Number(process.env.BENCH_MEDIA_BYTES ?? 1024 * 1024);

v8.setFlagsFromString("--expose-gc");
const collectGarbage = vm.runInNewContext("gc") as () => void;
function heldHeap(): number {
  collectGarbage();
  collectGarbage();
  return process.memoryUsage().heapUsed;
}

function line(index: number, model: string, part: unknown): string {
  return JSON.stringify({ custom_id: `ad-${index}`, method: "POST", url: "/v1/chat/completions", body: { model, max_tokens: 16, messages: [{ role: "user", content: [{ type: "text", text: `Tags for ad ${index}.` }, part] }] } });
}

interface Run {
  inputBytes: number;
  seconds: number;
  reads: number;
  heldBytes: number;
}

export async function benchMedia(): Promise<void> {
  console.log(`\n(media) ${ITEMS} Items naming one ${mb(IMAGE_BYTES)} image — ${loadNote()}`);
  const openaiUpstream = await startFakeOpenAIUpstream();
  const geminiUpstream = await startFakeGeminiUpstream();
  const spool = await startTestApp(
    {
      models: [
        { name: "vision", engine: "openai", baseUrl: openaiUpstream.url, concurrency: 8, adaptive: false },
        { name: "gemini-vision", engine: "gemini", baseUrl: geminiUpstream.baseUrl, concurrency: 16 },
      ],
      worker: { sweepMs: 50, pollMs: 50 },
      logLevel: "error",
    },
    { label: "bench-media" },
  );
  try {
    const client = new OpenAI({ apiKey: "bench", baseURL: spool.openaiBaseUrl, maxRetries: 0, timeout: 120_000 });
    const image = randomBytes(IMAGE_BYTES);
    const file = await client.files.create({ file: await toFile(image, "ad.png", { type: "image/png" }), purpose: "vision" });
    const dataUrl = `data:image/png;base64,${image.toString("base64")}`;

    const run = async (lines: string[]): Promise<Run> => {
      const text = `${lines.join("\n")}\n`;
      const before = heldHeap();
      const readsBefore = spool.app.context.media.stats().blobReads;
      const { ms } = await timed(async () => {
        const input = await client.files.create({ file: await toFile(Buffer.from(text), "media.jsonl"), purpose: "batch" });
        const created = await client.batches.create({ input_file_id: input.id, endpoint: "/v1/chat/completions", completion_window: "24h" });
        for (;;) {
          const batch = await client.batches.retrieve(created.id);
          if (batch.status === "completed" && batch.request_counts?.completed === ITEMS) return;
          if (["failed", "expired", "cancelled"].includes(batch.status) || (batch.request_counts?.failed ?? 0) > 0) throw new Error(`media bench batch: ${batch.status} ${JSON.stringify(batch.errors ?? batch.request_counts)}`);
          await new Promise((resolve) => setTimeout(resolve, 100));
        }
      });
      return { inputBytes: Buffer.byteLength(text), seconds: ms / 1000, reads: spool.app.context.media.stats().blobReads - readsBefore, heldBytes: heldHeap() - before };
    };
    const indexes = Array.from({ length: ITEMS }, (_, i) => i);
    const inline = await run(indexes.map((i) => line(i, "vision", { type: "image_url", image_url: { url: dataUrl } })));
    const referenced = await run(indexes.map((i) => line(i, "vision", { type: "file", file: { file_id: file.id } })));
    const uploaded = await run(indexes.map((i) => line(i, "gemini-vision", { type: "file", file: { file_id: file.id } })));
    const report = (label: string, figures: Run, baseline?: Run): void => {
      row(`${label}: input file`, mb(figures.inputBytes), baseline ? `${ratio(baseline.inputBytes, figures.inputBytes)} smaller` : "");
      row(`${label}: create -> completed`, `${figures.seconds.toFixed(1)} s`, `${(ITEMS / figures.seconds).toFixed(0)} Items/s${baseline ? `, ${ratio(baseline.seconds, figures.seconds)} faster` : ""}`);
      row(`${label}: BlobStore reads of the image, heap held after`, `${figures.reads}, ${mb(figures.heldBytes)}`);
    };
    report("inline base64 in every line (openai engine)", inline);
    report("by reference, openai engine (inlined from cache)", referenced, inline);
    report("by reference, gemini engine (one upload)", uploaded, inline);
    row("uploads to the gemini stand-in's Files API", String(geminiUpstream.files.size));
  } finally {
    await spool.stop();
    await Promise.all([openaiUpstream.close(), geminiUpstream.close()]);
  }
}
