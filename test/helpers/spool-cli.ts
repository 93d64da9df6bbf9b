/** Runs the `spool` command line as an operator would: a real process, no SPOOL_* variables from the test's environment. */
import { spawn } from "node:child_process";
import { once } from "node:events";
import path from "node:path";

const BIN = path.join(process.cwd(), "bin", "spool.js");

export async function runSpoolCli(args: string[], extraEnv: Record<string, string> = {}): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const env = { ...Object.fromEntries(Object.entries(process.env).filter(([name]) => !name.startsWith("SPOOL_"))), ...extraEnv };
  const child = spawn(process.execPath, [BIN, ...args], { env, stdio: ["ignore", "pipe", "pipe"] });
  let stdout = "";
  let stderr = "";
  child.stdout.on("data", (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
  const killer = setTimeout(() => child.kill("SIGKILL"), 60_000);
  const [code] = (await once(child, "exit")) as [number | null];
  clearTimeout(killer);
  return { code, stdout, stderr };
}
