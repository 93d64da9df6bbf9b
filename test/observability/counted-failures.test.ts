/**
 * spool_store_errors_total and spool_blob_errors_total: the wrapped Store and BlobStore count their own
 * failures (a real database error, raised by a trigger) but not answers about the request (a missing batch,
 * a missing blob), and pass every result and error through unchanged.
 */
import { writeFileSync } from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { systemClock } from "../../src/core/clock.ts";
import { AppError } from "../../src/core/errors.ts";
import { Observability } from "../../src/observability/observability.ts";
import { BlobNotFoundError } from "../../src/store/blob-store.ts";
import { LocalBlobStore } from "../../src/store/blob/local-blob-store.ts";
import { parsePrometheusText } from "../helpers/prometheus.ts";
import { storeBackends, useStores } from "../helpers/store-backends.ts";
import { testWorkDir } from "../helpers/test-dirs.ts";
import { startedBatch, T0 } from "../store/store-fixtures.ts";

async function counted(observability: Observability, name: string): Promise<Record<string, number>> {
  const { samples } = parsePrometheusText(await observability.text());
  return Object.fromEntries(samples.filter((sample) => sample.name === name).map((sample) => [sample.labels.code ?? "", sample.value]));
}

describe.each(storeBackends.slice(0, 1))("$name store: counted failures", (backend) => {
  const stores = useStores(backend);

  it("counts a failing store operation, not a request about a missing batch, and passes both through", async () => {
    const raw = await stores.open();
    const observability = new Observability(systemClock);
    const store = observability.countStoreFailures(raw);
    const batch = await startedBatch(store, 1);
    await expect(store.cancelBatch("batch_missing", T0)).rejects.toMatchObject({ code: "not_found" });
    expect(await counted(observability, "spool_store_errors_total")).toEqual({});

    const restore = await backend.failUpdates(raw, "batches");
    const failure = await store.cancelBatch(batch.id, T0 + 1).catch((error: unknown) => error);
    await restore();
    expect(failure).not.toBeInstanceOf(AppError);
    expect(String(failure)).toContain("fail on purpose");
    expect(await counted(observability, "spool_store_errors_total")).toEqual({ unexpected: 1 });
    expect((await store.cancelBatch(batch.id, T0 + 2)).status).toBe("cancelling");
  });

  it("counts blob failures but not a missing blob", async () => {
    const observability = new Observability(systemClock);
    const dir = testWorkDir("observability", "blob failures");
    const blobs = observability.countBlobFailures(new LocalBlobStore(dir));
    await expect(blobs.read("file-missing")).rejects.toBeInstanceOf(BlobNotFoundError);
    await blobs.put("file-ok", (async function* () { yield Buffer.from("x"); })());
    expect(await blobs.size("file-ok")).toBe(1);
    await blobs.close();
    // A data dir whose `files` is a plain file: every write fails in the filesystem (ENOTDIR), a real fault.
    const broken = testWorkDir("observability", "broken blob dir");
    writeFileSync(path.join(broken, "files"), "not a directory");
    const failing = observability.countBlobFailures(new LocalBlobStore(broken));
    await expect(failing.put("file-x", (async function* () { yield Buffer.from("x"); })())).rejects.toMatchObject({ code: expect.stringMatching(/^E/) });
    expect(await counted(observability, "spool_blob_errors_total")).toEqual({ unexpected: 1 });
    await failing.close();
  });
});
