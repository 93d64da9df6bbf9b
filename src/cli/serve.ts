/** `spool serve` and `spool worker`: run until SIGTERM/SIGINT, then shut down gracefully. */
import { createApp } from "../app.ts";
import { ConfigError, loadConfig } from "../config/load-config.ts";

export interface ServerFlags {
  config?: string;
  host?: string;
  port?: string;
  dataDir?: string;
  databaseUrl?: string;
  logLevel?: string;
  /** `--no-workers`: serve the API only (scale-out: workers run in `spool worker` processes). */
  workers?: boolean;
}

export async function serveCommand(flags: ServerFlags, roles: { api: boolean; workers: boolean }): Promise<void> {
  let config;
  try {
    config = loadConfig(flags);
  } catch (error) {
    if (error instanceof ConfigError) {
      console.error(error.message);
      process.exit(2);
    }
    throw error;
  }
  const app = await createApp(config, roles);
  const log = app.context.logger;
  let stopping = false;
  const shutdown = (signal: string): void => {
    if (stopping) {
      log.warn({ signal }, "second signal: exiting now");
      process.exit(1);
    }
    stopping = true;
    log.info({ signal }, "shutting down: finishing running requests");
    app.stop().then(
      () => process.exit(0),
      (error: unknown) => {
        log.error({ err: error }, "shutdown failed");
        process.exit(1);
      },
    );
  };
  process.on("SIGTERM", () => shutdown("SIGTERM"));
  process.on("SIGINT", () => shutdown("SIGINT"));
  const url = await app.start();
  log.info(
    { url, dataDir: config.dataDir, store: config.databaseUrl ? "postgres" : "sqlite", models: app.context.catalog.names(), workers: roles.workers },
    url ? `spool listening on ${url}` : "spool worker running",
  );
}
