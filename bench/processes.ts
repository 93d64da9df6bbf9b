/** Starting benchmark peers as child processes (upstream, spool) and waiting for them to be ready. */
import { spawn, type ChildProcess } from "node:child_process";

export interface Peer {
  child: ChildProcess;
  url: string;
  stop(): Promise<void>;
}

export function startPeer(args: string[], match: RegExp, env: Record<string, string> = {}): Promise<Peer> {
  const child = spawn(process.execPath, args, { stdio: ["ignore", "pipe", "pipe"], env: { ...process.env, ...env } });
  let output = "";
  return new Promise((resolve, reject) => {
    const onData = (chunk: Buffer): void => {
      output += chunk.toString();
      const found = match.exec(output);
      if (found?.[1]) {
        child.stdout?.off("data", onData);
        resolve({
          child,
          url: found[1],
          stop: () =>
            new Promise<void>((done) => {
              child.once("exit", () => done());
              child.kill("SIGTERM");
              setTimeout(() => child.kill("SIGKILL"), 15_000).unref();
            }),
        });
      }
    };
    child.stdout?.on("data", onData);
    child.stderr?.on("data", (chunk: Buffer) => (output += chunk.toString()));
    child.once("exit", (code) => reject(new Error(`peer exited (${code}) before ready:\n${output}`)));
  });
}

export const startUpstream = (latencyMs = 0): Promise<Peer> =>
  startPeer(["--import", "tsx", "bench/upstream-process.ts", String(latencyMs)], /"url":"(http:[^"]+)"/);

/** `SPOOL_BENCH_CPU_PROF=DIR npm run bench -- e2e` writes a CPU profile of each spool process into DIR. */
const profileArgs = (): string[] => (process.env.SPOOL_BENCH_CPU_PROF ? ["--cpu-prof", `--cpu-prof-dir=${process.env.SPOOL_BENCH_CPU_PROF}`] : []);

export const startSpool = (command: "serve" | "worker", configPath: string, env: Record<string, string> = {}): Promise<Peer> =>
  startPeer([...profileArgs(), "bin/spool.js", command, "--config", configPath, "--log-level", "info"], command === "serve" ? /"url":"(http:[^"]+)"/ : /(spool worker running)/, env);
