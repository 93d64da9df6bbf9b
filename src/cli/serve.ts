/**
 * `spool serve` and `spool worker`: run until SIGTERM/SIGINT, then shut down gracefully.
 *
 * Start-up runs in steps whose failures an operator can fix (configuration, data dir, store, listen); each
 * becomes one line and an exit code (see operator-error.ts). A signal before the app is built exits at
 * once: there is nothing to drain yet, and a hung database connect must not hold the process.
 */
import type { App } from "../app.ts";
import { loadConfig } from "../config/load-config.ts";
import type { Config } from "../config/config.ts";
import { prepareWritableDirectory } from "./data-dir.ts";
import { describeListenFailure, describeStoreFailure } from "./startup-errors.ts";
import { ExitCode, OperatorError } from "./operator-error.ts";

export interface ServerFlags {
  config?: string;
  host?: string;
  port?: string;
  dataDir?: string;
  databaseUrl?: string;
  databaseListenUrl?: string;
  logLevel?: string;
  logFormat?: string;
  /** `--no-workers`: serve the API only (scale-out: workers run in `spool worker` processes). */
  workers?: boolean;
  /** `--insecure-no-auth`: serve on a non-loopback host although no API key exists. */
  insecureNoAuth?: boolean;
}

export async function serveCommand(flags: ServerFlags, roles: { api: boolean; workers: boolean }): Promise<void> {
  const releaseStartupSignals = exitOnSignal();
  const config = loadConfig(flags);
  prepareWritableDirectory(config.dataDir, { label: "data dir", fix: "choose another one with --data-dir or SPOOL_DATA_DIR" });
  const app = await buildApp(config, roles);
  if (roles.api) await refuseOpenNetwork(app, config.host, flags.insecureNoAuth === true);
  releaseStartupSignals();
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
  let url: string | null;
  try {
    url = await app.start();
  } catch (error) {
    throw describeListenFailure(error, config.host, config.port) ?? error;
  }
  log.info(
    { url, dataDir: config.dataDir, store: config.databaseUrl ? "postgres" : "sqlite", models: app.context.catalog.names(), workers: roles.workers },
    url ? `spool listening on ${url}` : "spool worker running",
  );
}

/**
 * Without any API key spool serves everyone as admin: fine on loopback (as before tenants), not on an address
 * others reach, unless the operator says so explicitly.
 */
async function refuseOpenNetwork(app: App, host: string, insecure: boolean): Promise<void> {
  if (isLoopback(host) || (await app.context.tenants.authRequired())) return;
  if (insecure) {
    app.context.logger.warn({ host }, "serving without API keys on a non-loopback host (--insecure-no-auth): anyone who reaches it sees and manages everything");
    return;
  }
  await app.stop();
  throw new OperatorError(
    `Refusing to serve on ${host} without API keys: anyone who can reach it would see every file and batch. Create a key (spool keys create --tenant NAME --role admin), set apiKeys or tenants in the config, serve on 127.0.0.1, or pass --insecure-no-auth.`,
    ExitCode.usage,
  );
}

export function isLoopback(host: string): boolean {
  return host === "localhost" || host === "::1" || host === "[::1]" || /^127\.\d+\.\d+\.\d+$/.test(host);
}

async function buildApp(config: Config, roles: { api: boolean; workers: boolean }): Promise<App> {
  // Loaded only now, so a mistake in the configuration or the data dir is reported without first loading
  // the HTTP server, the stores and the engines (over a second of CPU).
  const { createApp } = await import("../app.ts");
  try {
    return await createApp(config, { ...roles, preloadModels: true });
  } catch (error) {
    throw describeStoreFailure(error, config) ?? error;
  }
}

/**
 * Until the returned function is called, SIGTERM/SIGINT end the process with 143/130 and one line. (A
 * signal that arrives while modules still load ends it too, silently: signal-exit, loaded by dependencies,
 * re-raises it when it is the only listener.)
 */
function exitOnSignal(): () => void {
  const onSignal = (signal: NodeJS.Signals): void => {
    process.stderr.write(`spool: ${signal} during start-up: exiting.\n`);
    process.exit(signal === "SIGINT" ? 130 : 143);
  };
  process.on("SIGTERM", onSignal);
  process.on("SIGINT", onSignal);
  return () => {
    process.off("SIGTERM", onSignal);
    process.off("SIGINT", onSignal);
  };
}
