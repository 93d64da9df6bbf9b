/**
 * A real spool (SQLite, local blobs, Workers, Sweeper, real engines) with its Anthropic surface, plus an
 * `@anthropic-ai/sdk` client pointed at it with only the base URL and key changed.
 */
import Anthropic from "@anthropic-ai/sdk";
import type { ConfigFile } from "../../../src/config/config.ts";
import { startTestApp, type TestApp } from "../../helpers/spool-app.ts";

export interface AnthropicTestApp extends TestApp {
  client: Anthropic;
}

export async function startAnthropicTestApp(file: ConfigFile, options: { label: string; workers?: boolean }): Promise<AnthropicTestApp> {
  const started = await startTestApp(file, { label: options.label, workers: options.workers });
  const client = new Anthropic({ apiKey: "sk-ant-test", baseURL: started.url, maxRetries: 0 });
  return { ...started, client };
}
