/**
 * A real spool (SQLite, local blobs, Workers, Sweeper, real engines) with the Gemini surface, plus a
 * `@google/genai` client pointed at it.
 *
 * Until the composition root wires the Gemini dialect (app.ts: `buildHttpServer(context, { surfaces:
 * geminiSurfaces() })`; api/batch-formats.ts: `["gemini", geminiBatchFormat]`), this helper does both on the
 * App that createApp returned, before it starts. Once wired, it uses the App as it is.
 */
import { GoogleGenAI } from "@google/genai";
import { pino } from "pino";
import { geminiBatchFormat } from "../../../src/api/gemini/batch-format.ts";
import { toGeminiErrorReply } from "../../../src/api/gemini/errors.ts";
import { registerGeminiApi } from "../../../src/api/gemini/plugin.ts";
import { errorMapperFor } from "../../../src/api/http-server.ts";
import { createApp, type App } from "../../../src/app.ts";
import type { BatchFormat } from "../../../src/core/batch-format.ts";
import type { ConfigFile } from "../../../src/config/config.ts";
import { loadConfig } from "../../../src/config/load-config.ts";
import { makeDataDir, writeConfigFile } from "../../helpers/spool-app.ts";

export interface GeminiTestApp {
  app: App;
  url: string;
  ai: GoogleGenAI;
  dataDir: string;
  stop(): Promise<void>;
}

type WithFormats = { deps?: { formats?: Map<string, BatchFormat> } };

export async function startGeminiTestApp(file: ConfigFile, options: { label: string; workers?: boolean }): Promise<GeminiTestApp> {
  const dataDir = makeDataDir(options.label);
  const configPath = writeConfigFile(dataDir, { port: 0, logLevel: "warn", ...file, dataDir });
  const config = loadConfig({ config: configPath }, {});
  const logger = pino({ level: process.env.SPOOL_TEST_LOG ?? "warn" });
  const app = await createApp(config, { api: true, workers: options.workers ?? true, logger });
  const server = app.server;
  if (!server) throw new Error("createApp built no HTTP server");
  if (errorMapperFor(server, "/v1beta/files") !== toGeminiErrorReply) registerGeminiApi(server, app.context);
  for (const loop of [app.worker, app.sweeper] as unknown as (WithFormats | null)[]) {
    const formats = loop?.deps?.formats;
    if (formats && !formats.has("gemini")) formats.set("gemini", geminiBatchFormat);
  }
  const url = (await app.start()) ?? "";
  const ai = new GoogleGenAI({ apiKey: "g-test", httpOptions: { baseUrl: url } });
  return { app, url, ai, dataDir, stop: () => app.stop() };
}
