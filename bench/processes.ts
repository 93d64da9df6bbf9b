/** Starting benchmark peers as child processes (upstream, spool) and waiting for them to be ready. */
import { spawn, type ChildProcess } from "node:child_process";
import { createWriteStream, readFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

export interface Peer {
  child: ChildProcess;
  url: string;
  stop(): Promise<void>;
}

/**
 * CPU time (user + system) a child process has used so far, in ms, from /proc (Linux). Throughput ratios
 * drift with whatever else the shared machine runs; CPU time per request does much less.
 */
export function cpuMsOf(child: ChildProcess): number | null {
  try {
    const stat = readFileSync(`/proc/${child.pid}/stat`, "utf8");
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    const ticks = Number(fields[11]) + Number(fields[12]); // utime, stime (fields 14 and 15 of stat)
    return (ticks * 1000) / CLOCK_TICKS_PER_SECOND;
  } catch {
    return null;
  }
}

/**
 * A memory figure of a child process from /proc/PID/status, in bytes: `VmRSS` (resident now) or `VmHWM`
 * (the most it was ever resident: its peak, with no sampling to miss it). Null once the process is gone.
 */
export function memoryOf(child: ChildProcess, field: "VmRSS" | "VmHWM"): number | null {
  try {
    const found = new RegExp(`^${field}:\\s+(\\d+) kB`, "m").exec(readFileSync(`/proc/${child.pid}/status`, "utf8"));
    return found ? Number(found[1]) * 1024 : null;
  } catch {
    return null;
  }
}

/** USER_HZ: 100 on every Linux this runs on (sysconf(_SC_CLK_TCK) is not reachable from Node). */
const CLOCK_TICKS_PER_SECOND = 100;

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
              // Stopping a peer that already exited (stopped twice) is done at once.
              if (child.exitCode !== null || child.signalCode !== null) return done();
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

/** `streamIntervalMs` spaces the events of streamed replies. */
export const startUpstream = (latencyMs = 0, streamIntervalMs = 0): Promise<Peer> =>
  startPeer(["--import", "tsx", "bench/upstream-process.ts", String(latencyMs), String(streamIntervalMs)], /"url":"(http:[^"]+)"/);

/**
 * `SPOOL_BENCH_CPU_PROF=DIR npm run bench -- e2e` writes a CPU profile of each spool process into DIR;
 * `SPOOL_BENCH_ALLOC_PROF=DIR` an allocation profile of each one's main thread (alloc-profile.mjs);
 * `SPOOL_BENCH_NODE_ARGS="--max-semi-space-size=32"` gives the spool processes (only) extra node flags.
 * docs/profiling.md says which to use for what.
 */
const profileArgs = (): string[] => [
  ...(process.env.SPOOL_BENCH_CPU_PROF ? ["--cpu-prof", `--cpu-prof-dir=${process.env.SPOOL_BENCH_CPU_PROF}`] : []),
  ...(process.env.SPOOL_BENCH_ALLOC_PROF ? ["--import", fileURLToPath(new URL("./alloc-profile.mjs", import.meta.url))] : []),
  ...(process.env.SPOOL_BENCH_NODE_ARGS?.split(" ").filter(Boolean) ?? []),
];

export async function startSpool(command: "serve" | "worker", configPath: string, env: Record<string, string> = {}): Promise<Peer> {
  const peer = await startPeer([...profileArgs(), "bin/spool.js", command, "--config", configPath, "--log-level", "info"], command === "serve" ? /"url":"(http:[^"]+)"/ : /(spool worker running)/, env);
  // `SPOOL_BENCH_STDOUT=DIR`: what the process prints once ready (its log lines, and what `--trace-gc` given
  // through SPOOL_BENCH_NODE_ARGS prints) is kept in DIR/spool-<pid>.out; otherwise it is read and dropped.
  const keepIn = process.env.SPOOL_BENCH_STDOUT;
  if (keepIn) peer.child.stdout?.pipe(createWriteStream(path.join(keepIn, `spool-${peer.child.pid}.out`)));
  return peer;
}
