/**
 * A real spool (SQLite, local blobs, Workers, Sweeper, real engines) with its Gemini surface, plus a
 * `@google/genai` client pointed at it with only the base URL and key changed.
 */
import { GoogleGenAI } from "@google/genai";
import type { App } from "../../../src/app.ts";
import type { ConfigFile } from "../../../src/config/config.ts";
import { startTestApp } from "../../helpers/spool-app.ts";

export interface GeminiTestApp {
  app: App;
  url: string;
  ai: GoogleGenAI;
  dataDir: string;
  stop(): Promise<void>;
}

export async function startGeminiTestApp(file: ConfigFile, options: { label: string; workers?: boolean }): Promise<GeminiTestApp> {
  const started = await startTestApp(file, { label: options.label, workers: options.workers });
  const ai = new GoogleGenAI({ apiKey: "g-test", httpOptions: { baseUrl: started.url } });
  return { app: started.app, url: started.url, ai, dataDir: started.dataDir, stop: started.stop };
}
