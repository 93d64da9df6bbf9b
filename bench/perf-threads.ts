/**
 * Where a process's CPU went, thread by thread, from `perf script` output on stdin (docs/profiling.md):
 * samples per thread (the main thread, the SQLite Store's thread and V8's collector helpers are apart),
 * the busiest threads' leaf symbols, and with `--timeline MS` the samples per thread in buckets of MS, which
 * shows idle gaps and which thread is saturated in which phase.
 *
 *   perf record -e cpu-clock -F 499 -a -g -o perf.data -- sleep 10      # while a bench runs
 *   perf script -F comm,pid,tid,time,ip,sym -i perf.data | node --import tsx bench/perf-threads.ts PID [--timeline 200]
 *
 * JavaScript frames have names only with `SPOOL_BENCH_NODE_ARGS=--perf-basic-prof-only-functions`, and
 * those names can be stale (docs/profiling.md): trust native symbols, read JavaScript ones with care.
 */
import { createInterface } from "node:readline";

interface Sample {
  tid: string;
  timeS: number;
  leaf: string;
}

async function readSamples(pid: string): Promise<{ samples: Sample[]; idle: number; others: number }> {
  const samples: Sample[] = [];
  let idle = 0;
  let others = 0;
  let current: Sample | null = null;
  const header = /^\s*\S.*?\s(\d+)\/(\d+)\s+([\d.]+):/;
  for await (const line of createInterface({ input: process.stdin, crlfDelay: Infinity })) {
    if (line.trim() === "") continue;
    const found = /^\S/.test(line) ? header.exec(line) : null;
    if (found) {
      current = null;
      if (found[1] === "0") idle += 1;
      else if (found[1] !== pid) others += 1;
      else samples.push((current = { tid: found[2]!, timeS: Number(found[3]), leaf: "" }));
      // A sample without callchains carries its symbol on the header line.
      if (current && !line.trimEnd().endsWith(":")) current.leaf = line.slice(found[0].length).trim().split(/\s+/).slice(1).join(" ");
    } else if (current !== null && current.leaf === "") {
      current.leaf = line.trim().split(/\s+/).slice(1).join(" ").replace(/\s*\(.*\)$/, "");
    }
  }
  return { samples, idle, others };
}

function countBy<T>(items: readonly T[], key: (item: T) => string): [string, number][] {
  const counts = new Map<string, number>();
  for (const item of items) counts.set(key(item), (counts.get(key(item)) ?? 0) + 1);
  return [...counts].sort((a, b) => b[1] - a[1]);
}

async function main(): Promise<void> {
  const [pid, flag, bucketText] = process.argv.slice(2);
  if (!pid) throw new Error("usage: perf script -F comm,pid,tid,time,ip,sym | node --import tsx bench/perf-threads.ts PID [--timeline MS]");
  const { samples, idle, others } = await readSamples(pid);
  const label = (tid: string): string => (tid === pid ? `${tid} (main)` : tid);
  console.log(`process ${pid}: ${samples.length} samples; other processes ${others}; idle ${idle}`);
  const byThread = countBy(samples, (sample) => sample.tid);
  for (const [tid, count] of byThread) console.log(`${String(count).padStart(8)}  ${label(tid)}`);
  for (const [tid, count] of byThread.slice(0, 2)) {
    console.log(`-- leaf symbols of ${label(tid)}`);
    const leaves = countBy(samples.filter((sample) => sample.tid === tid), (sample) => sample.leaf);
    for (const [leaf, n] of leaves.slice(0, 15)) console.log(`${String(n).padStart(8)} ${((100 * n) / count).toFixed(1).padStart(5)}%  ${leaf}`);
  }
  if (flag === "--timeline") {
    const bucketS = Number(bucketText ?? 100) / 1000;
    const threads = byThread.slice(0, 6).map(([tid]) => tid);
    console.log(`-- samples per ${bucketText ?? 100} ms: ${threads.map(label).join(" | ")}`);
    const buckets = new Map<number, Map<string, number>>();
    for (const sample of samples) {
      const bucket = Math.floor(sample.timeS / bucketS);
      const row = buckets.get(bucket) ?? new Map<string, number>();
      row.set(sample.tid, (row.get(sample.tid) ?? 0) + 1);
      buckets.set(bucket, row);
    }
    for (const [bucket, row] of [...buckets].sort((a, b) => a[0] - b[0])) {
      console.log(`${(bucket * bucketS).toFixed(1).padStart(10)} s ${threads.map((tid) => String(row.get(tid) ?? 0).padStart(7)).join("")}`);
    }
  }
}

await main();
