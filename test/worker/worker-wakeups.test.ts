/**
 * Worker.notify() (a Batch started) reaches every lane, also one that was busy when it came: with one shared
 * wake-up for all lanes, an idle lane took the notify and a lane in the middle of reading its queue (which
 * no longer showed the new Batch) slept out its back-off, up to the poll interval, before claiming. The Store
 * is real; a pass-through holds one lane's queue read open at the moment the Batch starts.
 */
import pino from "pino";
import { describe, expect, it } from "vitest";
import type { OpenAIModelConfig } from "../../src/config/config.ts";
import { ManualClock } from "../../src/core/clock.ts";
import { ModelCatalog } from "../../src/core/model-catalog.ts";
import { BATCH_FORMATS } from "../../src/dialects/registry.ts";
import { ModelDispatcher } from "../../src/dispatch/model-dispatcher.ts";
import { OpenAIEngine } from "../../src/engines/openai/openai-engine.ts";
import type { Store } from "../../src/store/store.ts";
import { Worker } from "../../src/worker/worker.ts";
import { startFakeOpenAIUpstream } from "../helpers/fake-openai-upstream.ts";
import { storeBackends, useStores } from "../helpers/store-backends.ts";
import { waitFor } from "../helpers/wait-for.ts";
import { startedBatch, T0 } from "../store/store-fixtures.ts";

/** Long enough that a lane sleeping out its back-off is told apart from one woken at once. */
const POLL_MS = 1_500;

describe.each(storeBackends)("Worker wake-ups on the $name store", (backend) => {
  const stores = useStores(backend);

  it("wakes a lane that was reading its queue when its Model's Batch started, while another lane sat idle", async () => {
    const real = await stores.open();
    let holdRead: Promise<void> | null = null;
    let readHeld: (() => void) | null = null;
    let claimedAt: number | null = null;
    // The real Store; model-b's next queue read is held open on request, and its first claim with Items is timed.
    const store = new Proxy(real, {
      get(target, property, receiver) {
        const value = Reflect.get(target, property, receiver) as unknown;
        if (typeof value !== "function") return value;
        const method = (value as (...args: unknown[]) => Promise<unknown>).bind(target);
        if (property === "queuedBatches") {
          return async (model: string, limit: number) => {
            const queue = await method(model, limit);
            if (model === "model-b" && holdRead !== null) {
              const release = holdRead;
              holdRead = null;
              readHeld?.();
              await release;
            }
            return queue;
          };
        }
        if (property === "claimItems") {
          return async (request: { model: string }) => {
            const items = (await method(request)) as unknown[];
            if (request.model === "model-b" && items.length > 0) claimedAt ??= performance.now();
            return items;
          };
        }
        return method;
      },
    }) as Store;

    const upstream = await startFakeOpenAIUpstream();
    const model = (name: string): OpenAIModelConfig => ({ name, engine: "openai", baseUrl: upstream.url, concurrency: 2, timeoutMs: 10_000, maxRetries: 0 });
    const catalog = new ModelCatalog([model("model-a"), model("model-b")]);
    const engine = new OpenAIEngine();
    const dispatcher = new ModelDispatcher({ resolve: (name) => (catalog.get(name) ? { engine, model: catalog.get(name)! } : undefined) });
    const worker = new Worker({
      store, dispatcher, catalog, clock: new ManualClock(T0), logger: pino({ level: "silent" }), formats: BATCH_FORMATS, owner: "worker",
      settings: { leaseMs: 30_000, pollMs: POLL_MS, maxAttempts: 3, shutdownGraceMs: 0, sweepMs: 1_000, dispatchOrder: "prefix", cancelRunning: "abort" },
    });
    try {
      worker.start();
      // Both lanes find nothing and back off: 10, 20, 40 ... ms, up to the poll interval.
      await new Promise((resolve) => setTimeout(resolve, POLL_MS + 500));
      let release!: () => void;
      holdRead = new Promise<void>((resolve) => (release = resolve));
      await new Promise<void>((resolve) => (readHeld = resolve));
      // model-b's lane is inside its read, which has already found the queue empty; model-a's lane sleeps.
      await startedBatch(real, 3, { model: "model-b" });
      worker.notify();
      const startedAt = performance.now();
      release();
      await waitFor(() => claimedAt !== null, { what: "model-b's lane to claim the new Batch", timeoutMs: 10_000 });
      // Woken by the notify it missed while reading: well within the back-off it would otherwise sleep out.
      expect(claimedAt! - startedAt).toBeLessThan(POLL_MS / 2);
    } finally {
      await worker.stop(0);
      await dispatcher.close();
      await engine.close();
      await upstream.close();
    }
  });
});
