/**
 * The `spool` command line: serve, worker, run, validate. Each flag also has an environment variable.
 * A command's module loads only when that command runs: `--help`, `validate` and a mistake in the
 * command line or the config answer without loading the HTTP server, the stores and the engines.
 */
import { readFileSync } from "node:fs";
import { Command, Option } from "commander";
import type { RunFlags } from "./run.ts";
import type { ServerFlags } from "./serve.ts";
import type { ValidateFlags } from "./validate.ts";
import type { WatchFlags } from "./watch.ts";
import type { BatchesFlags } from "./batches.ts";
import type { KeysFlags } from "./keys.ts";

function addServerOptions(command: Command): Command {
  return command
    .addOption(new Option("-c, --config <file>", "YAML or JSON config file (env SPOOL_CONFIG)"))
    .addOption(new Option("--host <host>", "address to listen on (env SPOOL_HOST; default 127.0.0.1)"))
    .addOption(new Option("-p, --port <port>", "port to listen on (env SPOOL_PORT; default 8080)"))
    .addOption(new Option("-d, --data-dir <dir>", "data directory for SQLite and files (env SPOOL_DATA_DIR; default ./data)"))
    .addOption(new Option("--database-url <url>", "postgres://... to share state between processes (env SPOOL_DATABASE_URL)"))
    .addOption(new Option("--database-listen-url <url>", "direct postgres://... for wake-ups between processes when --database-url goes through PgBouncer (env SPOOL_DATABASE_LISTEN_URL)"))
    .addOption(new Option("--log-level <level>", "fatal|error|warn|info|debug|trace|silent (env SPOOL_LOG_LEVEL)"))
    .addOption(new Option("--log-format <format>", "json (default) | pretty: short lines for people (env SPOOL_LOG_FORMAT)"));
}

/** The options of commands that talk to a running server. */
function addClientOptions(command: Command): Command {
  return command
    .option("--url <url>", "the server's root URL (env SPOOL_URL; default http://127.0.0.1:8080)")
    .option("--api-key <key>", "API key, when the server requires one (env SPOOL_API_KEY)");
}

/** The version in package.json, so `spool --version` cannot drift from the release. */
function packageVersion(): string {
  return (JSON.parse(readFileSync(new URL("../../package.json", import.meta.url), "utf8")) as { version: string }).version;
}

/** `--help` ends with examples a user can paste. */
function examples(...lines: string[]): string {
  return `\nExamples:\n${lines.map((line) => `  ${line}`).join("\n")}`;
}

export function buildCli(): Command {
  const program = new Command("spool")
    .description("Self-hosted Batch API for LLM inference (OpenAI and Gemini batch formats).")
    .version(packageVersion())
    .addHelpText("after", `${examples("spool serve                                  # http://127.0.0.1:8080, SQLite in ./data, the demo model", "spool serve --port 9000 --config spool.yaml", "spool validate requests.jsonl", "spool run -i requests.jsonl -o results.jsonl", "npx spool --help                             # from a clone without a global install (or: npm link)")}`)
    .addHelpText("after", "\nExit codes: 0 ok; 1 problems found (validate), batch failed (run) or unexpected error; 2 usage or configuration error;\n3 start-up environment error (port, host, data dir, database); 130/143 stopped by SIGINT/SIGTERM.")
    // Usage errors throw (main exits 2) instead of commander exiting with 1, which means "problems found".
    .exitOverride();

  addServerOptions(program.command("serve").description("serve the HTTP API and run workers (the default)"))
    .option("--no-workers", "serve the API only; run workers with `spool worker` against the same --database-url")
    .option("--insecure-no-auth", "allow serving on a non-loopback host with no API keys (anyone who can reach it sees everything)")
    .addHelpText("after", examples("spool serve", "spool serve --host 0.0.0.0 --port 8080 --config spool.yaml --log-format pretty", "npm start -- --port 18090                  # through npm: flags after --", "spool serve --no-workers --database-url postgres://spool@db:5432/spool"))
    .action(async (flags: ServerFlags) => (await import("./serve.ts")).serveCommand(flags, { api: true, workers: flags.workers !== false }));
  addServerOptions(program.command("worker").description("run workers only (scale-out: share --database-url with the API processes)"))
    .addHelpText("after", examples("spool worker --database-url postgres://spool@db:5432/spool --config spool.yaml"))
    .action(async (flags: ServerFlags) => (await import("./serve.ts")).serveCommand(flags, { api: false, workers: true }));
  program
    .command("run")
    .description("process a batch JSONL file locally (no server) into one result file, with progress; resumable")
    .option("-i, --input <file>", "batch input file (OpenAI or Gemini JSONL)")
    .option("-o, --output <file>", "result file to write: one line per request, in input order")
    .option("-m, --model <name>", "run every request on this configured model (required for Gemini files)")
    .option("-c, --config <file>", "config file (env SPOOL_CONFIG); without one, the built-in demo model runs")
    .option("-d, --data-dir <dir>", "work directory for the run's state (default: <output>.spool, removed on success)")
    .option("--progress-interval <seconds>", "seconds between progress lines when not on a terminal (default 5)")
    .option("--log-level <level>", "print the JSON log at this level instead of short warnings")
    .addHelpText("after", examples("spool run -i requests.jsonl -o results.jsonl                  # the demo model", "spool run -i requests.jsonl -o results.jsonl -c spool.yaml", "spool run -i gemini.jsonl -o results.jsonl -c spool.yaml -m gemini-2.5-flash"))
    .action(async (flags: RunFlags) => (await import("./run.ts")).runCommand(flags));
  program
    .command("validate")
    .description("check a batch JSONL file and print every problem with its line number")
    .argument("<file>", "JSONL file to check")
    .option("--dialect <dialect>", "openai | gemini | anthropic (default: guessed from the first line)")
    .option("--endpoint <endpoint>", "OpenAI batch endpoint the lines must use (default: the first line's url)")
    .option("-c, --config <file>", "config file: also check that every model is configured")
    .option("-m, --model <name>", "check as if run on this model (like spool run -m); required for Gemini files with --config")
    .addHelpText("after", examples("spool validate requests.jsonl", "spool validate requests.jsonl --config spool.yaml", "spool validate gemini.jsonl --config spool.yaml --model gemini-2.5-flash"))
    .action(async (file: string, flags: ValidateFlags) => (await import("./validate.ts")).validateCommand(file, flags));
  addClientOptions(program.command("watch").description("live progress of a batch on a running server; exits with its outcome (0 all succeeded, 1 otherwise)"))
    .argument("<batch-id>", "the batch id (OpenAI batch_..., or a Gemini batches/... name)")
    .option("--interval <seconds>", "seconds between updates (default 1)")
    .addHelpText("after", examples("spool watch batch_abc123", "spool watch batches/batch_abc123 --url http://10.0.0.5:8080 --api-key $KEY"))
    .action(async (batchId: string, flags: WatchFlags) => (await import("./watch.ts")).watchCommand(batchId, flags));
  addClientOptions(program.command("batches").description("list recent batches of a running server"))
    .option("--status <statuses>", "only these statuses, comma-separated (e.g. in_progress,validating)")
    .option("--limit <n>", "how many (default 20)")
    .addHelpText("after", examples("spool batches", "spool batches --status in_progress,validating --limit 50"))
    .action(async (flags: BatchesFlags) => (await import("./batches.ts")).batchesCommand(flags));
  const keys = program.command("keys").description("tenants' API keys in the Store: create (shown once), list, revoke");
  addServerOptions(keys.command("create").description("make an API key for a tenant (created if new) and print it once"))
    .requiredOption("--tenant <name>", "the tenant the key acts for")
    .option("--role <role>", "member (default: the tenant's own files and batches) or admin (every tenant's, and the admin API)")
    .option("--json", "print JSON")
    .addHelpText("after", examples("spool keys create --tenant team-a", "spool keys create --tenant ops --role admin --database-url postgres://spool@db:5432/spool"))
    .action(async (flags: KeysFlags) => (await import("./keys.ts")).keysCommand("create", flags));
  addServerOptions(keys.command("list").description("list the Store's keys (id, tenant, role, first characters; never the key)"))
    .option("--tenant <name>", "only this tenant's keys")
    .option("--json", "print JSON")
    .action(async (flags: KeysFlags) => (await import("./keys.ts")).keysCommand("list", flags));
  addServerOptions(keys.command("revoke").description("revoke a key by its id (key_...); it stops working within seconds"))
    .argument("<id>", "the key's id, from spool keys list")
    .option("--json", "print JSON")
    .action(async (id: string, flags: KeysFlags) => (await import("./keys.ts")).keysCommand("revoke", flags, id));
  addServerOptions(program.command("compact").description("give the disk space of deleted rows back to the system (embedded SQLite store; spool stopped)"))
    .addHelpText("after", examples("spool compact                                # the store in ./data", "spool compact --data-dir /var/lib/spool"))
    .action(async (flags: ServerFlags) => (await import("./compact.ts")).compactCommand(flags));
  // A usage mistake is one line pointing at the help, not the whole help text.
  for (const command of [program, ...program.commands, ...keys.commands]) {
    const name = command === program ? "spool" : `spool ${command.name()}`;
    command.configureOutput({ outputError: (text, write) => write(`${text.trimEnd()} (see ${name} --help)\n`) });
  }
  return program;
}
