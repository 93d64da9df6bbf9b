/**
 * The early estimate of a Batch (src/batches/input-sample.ts): how many Items and which Model, read from the
 * first 64 KB of its input in a real BlobStore, so a Batch has a forecast before validation.
 */
import { Readable } from "node:stream";
import { describe, expect, it } from "vitest";
import { sampleInputFile } from "../../src/batches/input-sample.ts";
import { BATCH_FORMATS } from "../../src/dialects/registry.ts";
import { LocalBlobStore } from "../../src/store/blob/local-blob-store.ts";
import { chatLine } from "../helpers/batch-files.ts";
import { testWorkDir } from "../helpers/test-dirs.ts";

const blobs = new LocalBlobStore(testWorkDir("batches", "input-sample"));

async function stored(id: string, text: string): Promise<number> {
  return (await blobs.put(id, Readable.from([Buffer.from(text)]))).bytes;
}

describe("input sample", () => {
  it("counts the requests of a file that fits in the sample exactly, blank lines left out, and names its model", async () => {
    const text = `${chatLine("a", "one", "gpt-small")}\n\n${chatLine("b", "two", "gpt-small")}\n${chatLine("c", "three", "gpt-small")}`;
    const bytes = await stored("file-sample-small", text);
    expect(await sampleInputFile(blobs, "file-sample-small", bytes, BATCH_FORMATS.openai)).toEqual({ expectedItems: 3, expectedModel: "gpt-small" });
  });

  it("estimates the requests of a large file from the lines of its first 64 KB", async () => {
    const lines = Array.from({ length: 5_000 }, (_, i) => chatLine(`req-${i}`, `question ${i} ${"x".repeat(i % 97)}`));
    const bytes = await stored("file-sample-large", `${lines.join("\n")}\n`);
    expect(bytes).toBeGreaterThan(5 * 64 * 1024);
    const sample = await sampleInputFile(blobs, "file-sample-large", bytes, BATCH_FORMATS.openai);
    expect(sample.expectedModel).toBe("gpt-test");
    expect(Math.abs((sample.expectedItems ?? 0) - 5_000)).toBeLessThan(250);
  });

  it("gives no model when the first request does not name one, and nothing for an empty or unreadable input", async () => {
    const gemini = await stored("file-sample-gemini", `${JSON.stringify({ request: { contents: [{ parts: [{ text: "hi" }] }] } })}\n`);
    expect(await sampleInputFile(blobs, "file-sample-gemini", gemini, BATCH_FORMATS.gemini)).toEqual({ expectedItems: 1 });
    const broken = await stored("file-sample-broken", "{not json\n");
    expect(await sampleInputFile(blobs, "file-sample-broken", broken, BATCH_FORMATS.openai)).toEqual({ expectedItems: 1 });
    const bytes = await stored("file-sample-blank", "\n\n  \n");
    expect(await sampleInputFile(blobs, "file-sample-blank", bytes, BATCH_FORMATS.openai)).toEqual({});
  });
});
