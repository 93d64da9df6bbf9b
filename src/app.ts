/**
 * Composition root: builds the Store, BlobStore, Engines, Dispatcher, Worker, Sweeper and HTTP server from
 * the Config and passes them explicitly. The only place that knows every implementation.
 */
import { hostname } from "node:os";
import path from "node:path";
import { pino, type Logger } from "pino";
import { turnBatchedDestination } from "./observability/log-destination.ts";
import type { FastifyInstance } from "fastify";
import type { AppContext } from "./app-context.ts";
import { processShareOf } from "./config/backends.ts";
import { DEMO_MODEL, type Config, type ModelConfig } from "./config/config.ts";
import { generateTestModel } from "./demo-model/generate-test-model.ts";
import { systemClock, type Clock } from "./core/clock.ts";
import { randomToken } from "./core/ids.ts";
import { makeDirectory } from "./core/make-directory.ts";
import { ModelCatalog } from "./core/model-catalog.ts";
import { createModelPathResolver } from "./engines/model-cache/model-path-resolver.ts";
import { EngineRegistry, type LlamaCppEngineFactory } from "./engines/registry.ts";
import { withTranslation } from "./dialects/translate/translating-engine.ts";
import { buildHttpServer } from "./api/http-server.ts";
import { anthropicSurfaces } from "./api/anthropic/plugin.ts";
import { geminiSurfaces } from "./api/gemini/plugin.ts";
import { openAISurfaces } from "./api/openai/plugin.ts";
import { BATCH_FORMATS, MODEL_NAME_FORMS } from "./dialects/registry.ts";
import { adminSurface } from "./api/admin/plugin.ts";
import { BatchService } from "./batches/batch-service.ts";
import { TenantService } from "./batches/tenant-service.ts";
import type { BlobStore } from "./store/blob-store.ts";
import { openStores, sqliteFileOf } from "./store/open-stores.ts";
import { StoredMediaFiles } from "./store/media-files.ts";
import type { Store } from "./store/store.ts";
import type { WorkEvent, WorkEventFeed } from "./store/work-events.ts";
import { LoopPressure } from "./dispatch/loop-pressure.ts";
import { ModelDispatcher } from "./dispatch/model-dispatcher.ts";
import { CapacityShares } from "./worker/capacity-shares.ts";
import { Sweeper } from "./worker/sweeper.ts";
import { Worker } from "./worker/worker.ts";
import { Observability } from "./observability/observability.ts";
import { prettyLogDestination } from "./observability/pretty-log.ts";
import { WebhookSender } from "./webhooks/webhook-sender.ts";
import { openAIWebhookEvent } from "./dialects/openai/webhook-events.ts";
import { publicBatchId } from "./dialects/public-batch-id.ts";
import { dashboardSurface } from "./api/dashboard/plugin.ts";
import { metricsSurface } from "./api/metrics/plugin.ts";

export interface AppOptions {
  /** Serve the HTTP API. */
  api: boolean;
  /** Run Workers and the Sweeper in this process. */
  workers: boolean;
  clock?: Clock;
  logger?: Logger;
  /** Where downloaded (hf:, https) model files are cached. Default `<dataDir>/models`. */
  modelCacheDir?: string;
  /**
   * Load llama-cpp models at start instead of on their first request (`spool serve` and `spool worker`);
   * `/ready` answers 503 until they are loaded. Default false.
   */
  preloadModels?: boolean;
  /** Log the warning that the built-in demo model is served (default true; `spool run` says it its own way). */
  announceDemoModel?: boolean;
}

export interface App {
  context: AppContext;
  server: FastifyInstance | null;
  worker: Worker | null;
  sweeper: Sweeper | null;
  webhooks: WebhookSender | null;
  /** Starts workers and (if any) listens; resolves with the bound URL or null. */
  start(): Promise<string | null>;
  /** Graceful: stop accepting requests, let running requests finish (up to the grace period), close. */
  stop(): Promise<void>;
}

/**
 * JSON lines to stdout, written synchronously (decision 0036): pino's default stream hands each line to the
 * libuv thread pool and wakes the event loop when it is written (strace: a pool write and an eventfd wake per
 * access line), and a line still queued is lost if the process dies. A write(2) of a few hundred bytes to a
 * pipe or file costs less than that hop, and what was logged before a crash is on disk. The lines of one
 * turn of the event loop go in one write (decision 0060, log-destination.ts).
 */
export function createLogger(config: Config): Logger {
  const options = { level: config.logLevel, base: { pid: process.pid } };
  return config.logFormat === "pretty" ? pino(options, prettyLogDestination()) : pino(options, turnBatchedDestination(1));
}

export async function createApp(config: Config, options: AppOptions): Promise<App> {
  const clock = options.clock ?? systemClock;
  const logger = options.logger ?? createLogger(config);
  makeDirectory(config.dataDir);
  if (config.demoModel) await prepareDemoModel(config, logger, options.announceDemoModel ?? true);
  const observability = new Observability(clock);
  // Imported while the Store opens (on SQLite its thread loads its own modules meanwhile): ~0.2 s off a start.
  const llamaCpp = loadLlamaCpp(config.models);
  llamaCpp.catch(() => undefined); // awaited below; a Store that fails to open first is the error reported
  const opened = await openStores(config, logger.child({ component: "store" }), { thread: true });
  const store = observability.countStoreFailures(opened.store);
  const blobs = observability.countBlobFailures(opened.blobs);
  // Every process writes the endpoints it was configured with: the Store queues events for them.
  await store.syncWebhookEndpoints(config.webhooks.map((webhook) => webhook.url), clock.now());
  const catalog = new ModelCatalog(config.models, { nameForms: MODEL_NAME_FORMS });
  const resolveModelPath = createModelPathResolver({ cacheDir: options.modelCacheDir ?? dataPaths(config.dataDir).models, logger: logger.child({ component: "model-cache" }) });
  const media = new StoredMediaFiles({ store, blobs, clock, settings: config.media });
  const engines = new EngineRegistry({ logger, resolveModelPath, wrap: (engine) => withTranslation(engine, media), llamaCpp: await llamaCpp });
  const metrics = observability.metrics(store);
  const owner = `${hostname()}:${process.pid}:${randomToken(8)}`;
  let shares: CapacityShares | null = null;
  // Shares are per Model (of its own engine's concurrency); each other backend takes the same fraction of
  // its own concurrency, at least one slot while this process holds any of the Model's.
  const ceiling = (backend: ModelConfig): number => {
    const model = catalog.get(backend.name);
    if (model === undefined) return backend.concurrency;
    if (shares === null) return processShareOf(model, backend);
    const share = shares.ceiling(model);
    if (backend === model || share === 0) return share;
    return Math.max(1, Math.floor((backend.concurrency * share) / model.concurrency));
  };
  // Batch requests yield more of their slots to sync ones while the event loop lags (decision 0025 amended).
  const loopPressure = new LoopPressure();
  const dispatcher = new ModelDispatcher({
    resolve: (name) => engines.resolve(catalog, name), engineFor: (backend) => engines.engineFor(backend),
    clock, logger, metrics, ceiling, cancelRunning: config.worker.cancelRunning, loopPressure,
    onStarved: () => shares?.nudge(),
  });
  // PostgreSQL: several processes may send to the same upstreams; they split each Model's concurrency.
  if (config.databaseUrl !== null) shares = shareCapacity({ store, owner, models: config.models, dispatcher, clock, logger });
  observability.watch({ store, dispatcher, models: catalog.names() });
  const formats = BATCH_FORMATS;

  let worker: Worker | null = null;
  let sweeper: Sweeper | null = null;
  let webhooks: WebhookSender | null = null;
  if (options.workers) {
    worker = new Worker({ store, dispatcher, catalog, clock, logger, formats, settings: config.worker, owner, metrics, onResults: (prompt, batchIds) => sweeper?.notifyResults(prompt, batchIds) });
    sweeper = new Sweeper({
      store, blobs, catalog, clock, logger, formats, settings: config.worker, limits: config.limits, owner, metrics,
      retention: config.retention,
      media: { files: media, maxInlineBytes: config.media.maxInlineBytes },
      // Cancels seen here, local and announced: a validation under way stops at its next chunk.
      cancelled: dispatcher.cancelled,
      onBatchStarted: () => worker?.batchStarted(),
      onBatchEnded: () => webhooks?.batchEnded(),
      // On both Stores: the process writing a Batch early holds its results writer Lease and finalizes it
      // (decision 0061); not beside sync requests (while the loop's pressure is watched), which it would
      // delay (decision 0054).
      earlyResults: { paused: () => loopPressure.watching },
    });
    webhooks = new WebhookSender({
      store, clock, logger, owner, webhooks: config.webhooks, settings: config.webhookDelivery,
      render: (delivery, batch) => openAIWebhookEvent({ id: delivery.id, status: delivery.event, createdAtMs: delivery.createdAtMs, batchId: batch ? publicBatchId(batch) : delivery.batchId }),
      onAttempt: (result) => observability.webhookAttempted(result),
    });
  }

  const notifyWork = (): void => {
    sweeper?.notify();
    worker?.notify();
  };
  // What other processes sharing the database announce (decision 0046): their new Batches to validate,
  // Items to claim, and cancels that stop this process's requests of the Batch as a local cancel does.
  const onWorkEvent = (event: WorkEvent): void => {
    observability.workEventHeard(event.kind);
    if (event.kind === "cancelled" && event.batchId !== null) dispatcher.cancelBatch(event.batchId);
    // Finished elsewhere, and its results are written here: a look at it now finalizes it (decision 0061).
    if (event.kind === "finished") sweeper?.notifyResults(true, new Set(event.batchId === null ? [] : [event.batchId]));
    else if (event.kind === "claimable") worker?.batchStarted();
    else sweeper?.notify();
  };
  const onResync = (): void => {
    observability.workEventHeard("resync");
    notifyWork();
  };
  const onHearing = (hears: boolean): void => observability.workEventsHearing(hears);
  let workEvents: WorkEventFeed | null = null;
  const tenants = new TenantService({ store, clock, logger, config });
  const batches = new BatchService({
    store, blobs, clock, logger, formats, notifyWork, catalog, defaultWindowMs: config.scheduling.defaultWindowMs, admission: tenants,
    priceOf: (name) => catalog.get(name)?.price,
    onCancelled: (batchId) => dispatcher.cancelBatch(batchId),
  });
  const context: AppContext = { config, store, blobs, clock, logger, catalog, dispatcher, batches, tenants, formats, observability, media };
  // Adding a dialect: its surfaces join this list (the first one answers for paths under no surface).
  const surfaces = [...openAISurfaces(), ...geminiSurfaces(), ...anthropicSurfaces(), dashboardSurface(), adminSurface(), metricsSurface()];
  const readiness = { pingStore: () => store.ping(), models: () => engines.readiness(config.models) };
  const server = options.api ? buildHttpServer(context, { surfaces, home: "/dashboard/", readiness }) : null;

  return {
    context,
    server,
    worker,
    sweeper,
    webhooks,
    async start() {
      // Listen first: a process that cannot bind its port exits without having claimed any work (or started
      // loading a model). Models count as loading from here, so `/ready` never answers ready before they are.
      const listening = server ? server.listen({ host: config.host, port: config.port }) : Promise.resolve("");
      if (options.preloadModels === true) void engines.preload(config.models, listening);
      let url: string | null = null;
      if (server) {
        await listening;
        const address = server.server.address();
        const port = typeof address === "object" && address ? address.port : config.port;
        url = `http://${config.host.includes(":") ? `[${config.host}]` : config.host}:${port}`;
      }
      shares?.start();
      worker?.start();
      sweeper?.start();
      webhooks?.start();
      if (options.workers && store.listenForWork) workEvents = await store.listenForWork({ event: onWorkEvent, resync: onResync, hearing: onHearing });
      return url;
    },
    async stop() {
      await workEvents?.close();
      await server?.close();
      await worker?.stop();
      await sweeper?.stop();
      await webhooks?.stop();
      await shares?.stop();
      await dispatcher.close();
      loopPressure.close();
      await engines.close();
      await closeStores(store, blobs);
    },
  };
}

function shareCapacity(deps: { store: Store; owner: string; models: readonly ModelConfig[]; dispatcher: ModelDispatcher; clock: Clock; logger: Logger }): CapacityShares {
  const { dispatcher } = deps;
  return new CapacityShares({
    ...deps,
    ledger: deps.store,
    logger: deps.logger.child({ component: "capacity" }),
    load: (model) => dispatcher.load(model),
    onChange: (model) => dispatcher.refreshCeiling(model),
  });
}

async function closeStores(store: Store, blobs: BlobStore): Promise<void> {
  await blobs.close();
  await store.close();
}

/**
 * The llama-cpp Engine's constructor, imported only when some Model or backend runs on it: node-llama-cpp
 * costs about 45 MB resident once imported (issue 11). Imported at start, not on a first request, so a
 * broken install still stops the process at once.
 */
async function loadLlamaCpp(models: readonly ModelConfig[]): Promise<LlamaCppEngineFactory | undefined> {
  const local = models.some((model) => model.engine === "llama-cpp" || model.backends?.some((backend) => backend.engine === "llama-cpp"));
  if (!local) return undefined;
  const { LlamaCppEngine } = await import("./engines/llama-cpp/llama-cpp-engine.ts");
  return (options) => new LlamaCppEngine(options);
}

/** Generates the demo model's GGUF into the data dir once (deterministic: same seed, same file). */
async function prepareDemoModel(config: Config, logger: Logger, announce: boolean): Promise<void> {
  const demo = config.models.find((model) => model.name === DEMO_MODEL.name);
  if (!demo || demo.engine !== "llama-cpp") return;
  const generated = await generateTestModel({ path: demo.path, size: "tiny", seed: 1 });
  if (!announce) return;
  logger.warn(
    { model: demo.name, path: generated.path },
    "no models configured: serving the built-in demo model 'spool-demo' (random weights, gibberish output) - configure real models with --config",
  );
}

/** Where the embedded defaults keep things inside the data dir. */
export function dataPaths(dataDir: string): { database: string; files: string; models: string } {
  return { database: sqliteFileOf(dataDir), files: dataDir, models: path.join(dataDir, "models") };
}
