/**
 * Runs spool as a child process (`bin/spool.js`), for tests that kill it (SIGKILL / SIGTERM) or run several
 * processes against one store. The bound URL is read from the "spool listening" log line.
 */
import { spawn, type ChildProcess } from "node:child_process";
import path from "node:path";

export interface SpoolProcess {
  child: ChildProcess;
  /** Base URL (no /v1); null for worker-only processes. */
  url: string | null;
  /** Everything the process printed so far (stdout + stderr). */
  output(): string;
  /** Resolves with the exit code (or signal name) when the process ends. */
  exited: Promise<number | string>;
  kill(signal?: NodeJS.Signals): void;
}

const BIN = path.join(process.cwd(), "bin", "spool.js");

export async function startSpoolProcess(params: { command?: "serve" | "worker"; configPath?: string; args?: string[]; env?: Record<string, string>; readyTimeoutMs?: number }): Promise<SpoolProcess> {
  const command = params.command ?? "serve";
  const configArgs = params.configPath ? ["--config", params.configPath] : [];
  const child = spawn(process.execPath, [BIN, command, ...configArgs, "--log-level", "info", ...(params.args ?? [])], {
    env: { ...process.env, ...params.env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let output = "";
  const exited = new Promise<number | string>((resolve) => child.on("exit", (code, signal) => resolve(code ?? signal ?? -1)));
  const ready = new Promise<string | null>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`spool ${command} did not start within ${params.readyTimeoutMs ?? 30_000} ms:\n${output}`)), params.readyTimeoutMs ?? 30_000);
    const onData = (chunk: Buffer): void => {
      output += chunk.toString();
      // The JSON log (`"url":"http://…"`) or the pretty one (`url=http://…`).
      const match = /"url":"(http:\/\/[^"]+)"|\burl=(http:\/\/\S+)/.exec(output);
      if (match) {
        clearTimeout(timer);
        resolve(match[1] ?? match[2] ?? null);
      } else if (/spool worker running/.test(output)) {
        clearTimeout(timer);
        resolve(null);
      }
    };
    child.stdout.on("data", onData);
    child.stderr.on("data", onData);
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`spool ${command} exited (${code}) before it was ready:\n${output}`));
    });
  });
  const url = await ready;
  return { child, url, output: () => output, exited, kill: (signal = "SIGTERM") => child.kill(signal) };
}
