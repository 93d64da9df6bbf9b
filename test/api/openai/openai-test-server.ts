/**
 * The HTTP server with the OpenAI surface over real components — SQLite store, local blob store, the real
 * ModelDispatcher and OpenAIEngine — listening on a free loopback port, plus an `openai` SDK client.
 * No Worker runs: Batches stay as created, which is what these route tests need.
 */
import { mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import type { AddressInfo } from "node:net";
import path from "node:path";
import { TenantService } from "../../../src/batches/tenant-service.ts";
import { BatchService } from "../../../src/batches/batch-service.ts";
import { Observability } from "../../../src/observability/observability.ts";
import { BATCH_FORMATS } from "../../../src/dialects/registry.ts";
import OpenAI from "openai";
import { pino } from "pino";
import type { FastifyInstance } from "fastify";
import type { AppContext } from "../../../src/app-context.ts";
import { buildHttpServer } from "../../../src/api/http-server.ts";
import { openAISurfaces } from "../../../src/api/openai/plugin.ts";
import type { ConfigFile } from "../../../src/config/config.ts";
import { loadConfig } from "../../../src/config/load-config.ts";
import { systemClock } from "../../../src/core/clock.ts";
import { ModelCatalog } from "../../../src/core/model-catalog.ts";
import { OpenAIEngine } from "../../../src/engines/openai/openai-engine.ts";
import type { BlobStore } from "../../../src/store/blob-store.ts";
import type { Store } from "../../../src/store/store.ts";
import { LocalBlobStore } from "../../../src/store/blob/local-blob-store.ts";
import { openSqliteStore } from "../../../src/store/sqlite/index.ts";
import { ModelDispatcher } from "../../../src/dispatch/model-dispatcher.ts";

export interface OpenAITestServer {
  url: string;
  client: OpenAI;
  /** Client for the Gemini OpenAI-compatibility surface (`/v1beta/openai/`). */
  compatClient: OpenAI;
  server: FastifyInstance;
  context: AppContext;
  store: Store;
  blobs: BlobStore;
  dataDir: string;
  /** Times notifyWork() was called. */
  wakeups: () => number;
  close(): Promise<void>;
}

export function makeDataDir(label: string): string {
  const root = path.join(process.cwd(), "test", ".work", "data");
  mkdirSync(root, { recursive: true });
  return mkdtempSync(path.join(root, `${label}-`));
}

export async function startOpenAITestServer(params: { label: string; upstreamUrl?: string; file?: ConfigFile }): Promise<OpenAITestServer> {
  const dataDir = makeDataDir(params.label);
  const configPath = path.join(dataDir, "spool.json");
  const file: ConfigFile = {
    dataDir,
    models: [{ name: "gpt-test", engine: "openai", baseUrl: params.upstreamUrl ?? "http://127.0.0.1:9/v1", maxRetries: 0 }],
    ...params.file,
  };
  writeFileSync(configPath, JSON.stringify(file));
  const config = loadConfig({ config: configPath }, {});
  const logger = pino({ level: process.env.SPOOL_TEST_LOG ?? "silent" });
  const store = await openSqliteStore(path.join(dataDir, "spool.sqlite"));
  await store.migrate();
  const blobs = new LocalBlobStore(dataDir);
  const catalog = new ModelCatalog(config.models);
  const engine = new OpenAIEngine();
  const dispatcher = new ModelDispatcher({
    resolve: (name) => {
      const model = catalog.get(name);
      return model ? { engine, model } : undefined;
    },
    logger,
  });
  let wakeups = 0;
  const batches = new BatchService({ store, blobs, clock: systemClock, logger, formats: BATCH_FORMATS, notifyWork: () => void (wakeups += 1) });
  const tenants = new TenantService({ store, clock: systemClock, logger, config });
  const context: AppContext = { config, store, blobs, clock: systemClock, logger, catalog, dispatcher, batches, tenants, formats: BATCH_FORMATS, observability: new Observability(systemClock) };
  const server = buildHttpServer(context, { surfaces: openAISurfaces() });
  await server.listen({ host: "127.0.0.1", port: 0 });
  const url = `http://127.0.0.1:${(server.server.address() as AddressInfo).port}`;
  const apiKey = config.apiKeys[0] ?? "sk-test";
  return {
    url,
    client: new OpenAI({ apiKey, baseURL: `${url}/v1`, maxRetries: 0 }),
    compatClient: new OpenAI({ apiKey, baseURL: `${url}/v1beta/openai/`, maxRetries: 0 }),
    server,
    context,
    store,
    blobs,
    dataDir,
    wakeups: () => wakeups,
    async close() {
      await server.close();
      await dispatcher.close();
      await engine.close();
      await blobs.close();
      await store.close();
    },
  };
}
