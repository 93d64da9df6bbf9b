/**
 * What a new Batch will be, before validation has read it: how many Items and on which Model, from the
 * first 64 KB of its input (an upload, or the internal File of an inline Batch). The forecast
 * (batch-forecasts.ts) uses it so a Batch has an ETA from the moment it is created, not only once a
 * 200k-line file is validated. An estimate, never a check: anything that
 * goes wrong here yields nothing, and validation decides what the Batch really holds.
 */
import type { BatchFormat } from "../core/batch-format.ts";
import type { BlobStore } from "../store/blob-store.ts";

const SAMPLE_BYTES = 64 * 1024;

export interface ExpectedWork {
  /** Items the input is expected to hold (exact when it fits in the sample). */
  expectedItems?: number;
  /** The Model its first request names, when the dialect puts it in the request. */
  expectedModel?: string;
}

/** From the input File `fileId` of `fileBytes` bytes. */
export async function sampleInputFile(blobs: BlobStore, fileId: string, fileBytes: number, format: BatchFormat): Promise<ExpectedWork> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of await blobs.read(fileId, { start: 0, end: SAMPLE_BYTES - 1 })) {
    const buffer = Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk as Uint8Array);
    chunks.push(buffer);
    size += buffer.length;
    if (size >= SAMPLE_BYTES) break;
  }
  const sample = Buffer.concat(chunks).subarray(0, SAMPLE_BYTES).toString("utf8");
  const whole = size >= fileBytes;
  // A partial last line is cut by the sample, not by the file: only whole lines measure the average.
  const lines = sample.split("\n").slice(0, whole ? undefined : -1);
  const requests = lines.filter((line) => line.trim() !== "");
  if (requests.length === 0) return {};
  const measuredBytes = whole ? fileBytes : lines.reduce((sum, line) => sum + Buffer.byteLength(line) + 1, 0);
  const expectedItems = whole ? requests.length : Math.round((fileBytes / measuredBytes) * requests.length);
  return withModel({ expectedItems }, requests[0], format);
}

function withModel(work: ExpectedWork, firstLine: string | undefined, format: BatchFormat): ExpectedWork {
  if (firstLine === undefined) return work;
  try {
    const model = format.requestBody(firstLine).model;
    return typeof model === "string" && model !== "" ? { ...work, expectedModel: model } : work;
  } catch {
    return work;
  }
}
