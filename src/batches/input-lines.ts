/**
 * How many Items an uploaded input File will make, for the queued-Items quota at create (before validation
 * has read it): its non-empty lines, counted by streaming the bytes once. Only read when the tenant has that
 * quota. A File the tenant cannot see counts as empty: validation then fails the Batch as for a missing File.
 */
import { BlobNotFoundError, type BlobStore } from "../store/blob-store.ts";
import type { Store } from "../store/store.ts";

const NEWLINE = 0x0a;

export async function countInputLines(store: Store, blobs: BlobStore, fileId: string, tenant: string): Promise<number> {
  const file = await store.getFile(fileId);
  if (file === null || file.tenant !== tenant) return 0;
  let lines = 0;
  let lineHasText = false;
  try {
    for await (const chunk of await blobs.read(fileId)) {
      const buffer = Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk as Uint8Array);
      for (const byte of buffer) {
        if (byte === NEWLINE) {
          if (lineHasText) lines += 1;
          lineHasText = false;
        } else if (byte > 0x20) {
          lineHasText = true;
        }
      }
    }
  } catch (error) {
    if (error instanceof BlobNotFoundError) return 0;
    throw error;
  }
  return lineHasText ? lines + 1 : lines;
}
