/**
 * Starts a real spool (API + Workers, real SQLite file, real engines) inside the test process on a free
 * loopback port. For crash tests that need a separate process, see spool-process.ts.
 */
import { mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import path from "node:path";
import { pino, type Logger } from "pino";
import { createApp, type App } from "../../src/app.ts";
import { configFileSchema, type ConfigFile } from "../../src/config/config.ts";
import { loadConfig } from "../../src/config/load-config.ts";
import type { Clock } from "../../src/core/clock.ts";

export interface TestApp {
  app: App;
  url: string;
  /** OpenAI-surface base URL (`<url>/v1`). */
  openaiBaseUrl: string;
  dataDir: string;
  stop(): Promise<void>;
}

/** A fresh data dir under test/.work/data (git-ignored; kept after the run for inspection). */
export function makeDataDir(label: string): string {
  const root = path.join(process.cwd(), "test", ".work", "data");
  mkdirSync(root, { recursive: true });
  return mkdtempSync(path.join(root, `${label.replace(/[^a-z0-9-]+/gi, "-").slice(0, 40)}-`));
}

/** Writes `file` (validated) as a JSON config in the data dir and returns its path. */
export function writeConfigFile(dataDir: string, file: ConfigFile): string {
  const parsed = configFileSchema.parse(file);
  const configPath = path.join(dataDir, "spool.json");
  writeFileSync(configPath, JSON.stringify(parsed, null, 2));
  return configPath;
}

export async function startTestApp(
  file: ConfigFile,
  options: { label?: string; dataDir?: string; api?: boolean; workers?: boolean; clock?: Clock; logger?: Logger } = {},
): Promise<TestApp> {
  const dataDir = options.dataDir ?? makeDataDir(options.label ?? "app");
  const configPath = writeConfigFile(dataDir, { port: 0, logLevel: "warn", ...file, dataDir });
  const config = loadConfig({ config: configPath }, {});
  const logger = options.logger ?? pino({ level: process.env.SPOOL_TEST_LOG ?? "warn" });
  const app = await createApp(config, { api: options.api ?? true, workers: options.workers ?? true, logger, clock: options.clock });
  const url = (await app.start()) ?? "";
  return { app, url, openaiBaseUrl: `${url}/v1`, dataDir, stop: () => app.stop() };
}
