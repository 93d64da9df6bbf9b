/**
 * Finalization writes its result file while it formats the next part of it (one write in flight,
 * finalize-batch.ts). A write that fails in flight must still fail the finalization, before anything is
 * registered: on a real filesystem that runs out of space part-way through the output, the Batch stays
 * finalizing with no output File and no half-written blob, and the next try writes the whole file.
 */
import { readdirSync, rmSync, writeFileSync } from "node:fs";
import path from "node:path";
import { pino } from "pino";
import { afterEach, describe, expect, it } from "vitest";
import { ManualClock } from "../../src/core/clock.ts";
import { AppError } from "../../src/core/errors.ts";
import { BATCH_FORMATS } from "../../src/dialects/registry.ts";
import { LocalBlobStore } from "../../src/store/blob/local-blob-store.ts";
import { openSqliteStore } from "../../src/store/sqlite/index.ts";
import type { Store } from "../../src/store/store.ts";
import { finalizeBatch, resultFileIds } from "../../src/worker/finalize-batch.ts";
import { testWorkPath } from "../helpers/test-dirs.ts";
import { mountTinyFilesystem, tinyFilesystemUnavailableReason, type TinyFilesystem } from "../helpers/tiny-filesystem.ts";
import { LEASE_MS, startedBatch, T0 } from "../store/store-fixtures.ts";

const noTmpfs = tinyFilesystemUnavailableReason();
const ITEMS = 600;
/** Each result line is a little over 3 KB: the output (about 2 MB) is eight flushes of 256 KB. */
const CONTENT = "x".repeat(3_000);

const closing: { close(): Promise<void> }[] = [];
let mount: TinyFilesystem | null = null;
afterEach(async () => {
  await Promise.all(closing.splice(0).map((resource) => resource.close()));
  mount?.unmount();
  mount = null;
});

async function finishedBatch(store: Store): Promise<string> {
  const batch = await startedBatch(store, ITEMS);
  const claimed = await store.claimItems({ owner: "w", model: batch.model ?? "", limit: ITEMS, nowMs: T0 + 10, leaseMs: LEASE_MS });
  const body = (index: number): string => JSON.stringify({ id: `chatcmpl-${index}`, object: "chat.completion", choices: [{ index: 0, message: { role: "assistant", content: `${index} ${CONTENT}` } }] });
  await store.completeItems(
    claimed.map((item) => ({
      batchId: item.batchId, index: item.index, owner: "w", attempt: item.attempt, status: "succeeded" as const,
      result: { statusCode: 200, body: body(item.index), errorCode: null, errorMessage: null, requestId: null, usage: { inputTokens: 1, outputTokens: 1 }, finishedAtMs: T0 + 11 },
    })),
    T0 + 11,
  );
  return batch.id;
}

describe.skipIf(noTmpfs !== null)("finalization on a disk that fills up part-way through the output", () => {
  it("fails before registering anything, leaves no blob behind, and writes the whole file once space is back", async () => {
    mount = mountTinyFilesystem("finalize full disk", 4 * 1024 * 1024);
    // Leaves about 1 MB: the first chunks of the output fit, a later one does not.
    const filler = path.join(mount.dir, "filler");
    writeFileSync(filler, Buffer.alloc(3 * 1024 * 1024, 1));
    const store = await openSqliteStore(testWorkPath("stores", "finalize full disk", ".sqlite"));
    const blobs = new LocalBlobStore(mount.dir);
    closing.push(store, blobs);
    await store.migrate();
    const clock = new ManualClock(T0 + 20);
    const deps = { store, blobs, clock, logger: pino({ level: "silent" }), formats: BATCH_FORMATS, leaseMs: LEASE_MS };

    const batchId = await finishedBatch(store);
    const ids = resultFileIds(batchId);
    const claimed = await store.claimFinalization(batchId, { owner: "f", nowMs: clock.now(), leaseMs: LEASE_MS });
    const failure = await finalizeBatch(deps, claimed!, "completed", "f").then(() => null, (error: unknown) => error);
    expect(failure).toBeInstanceOf(AppError);
    expect((failure as AppError).code).toBe("insufficient_storage");
    expect(await store.getBatch(batchId)).toMatchObject({ status: "finalizing", outputFileId: null });
    expect(await store.getFile(ids.output)).toBeNull();
    expect(await blobs.size(ids.output)).toBeNull();
    // Nor a part of it: the writes already under way were waited for and the part deleted.
    expect(readdirSync(path.join(mount.dir, "files", ".tmp"))).toEqual([]);

    rmSync(filler);
    clock.advance(LEASE_MS);
    const retaken = await store.claimFinalization(batchId, { owner: "f2", nowMs: clock.now(), leaseMs: LEASE_MS });
    const finished = await finalizeBatch(deps, retaken!, "completed", "f2");
    expect(finished).toMatchObject({ status: "completed", outputFileId: ids.output });
    const chunks: Buffer[] = [];
    for await (const chunk of await blobs.read(ids.output)) chunks.push(chunk as Buffer);
    const lines = Buffer.concat(chunks).toString("utf8").trimEnd().split("\n");
    expect(lines).toHaveLength(ITEMS);
    expect(lines.map((line) => (JSON.parse(line) as { custom_id: string }).custom_id)).toEqual(Array.from({ length: ITEMS }, (_, i) => `req-${i}`));
    expect((await store.getFile(ids.output))?.bytes).toBe(Buffer.concat(chunks).byteLength);
  });
});
