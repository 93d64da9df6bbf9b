/**
 * Preloaded into the spool processes a bench starts when `SPOOL_BENCH_ALLOC_PROF=DIR` is set (processes.ts):
 * V8's sampling heap profiler, told to keep the objects that young and old collections freed. The profile
 * then says where a workload allocates, which is what the collector's work follows; `--heap-prof` keeps only
 * what is still live when the process ends, so on a hot path of short-lived objects it shows almost nothing.
 *
 * Written when the process exits, as DIR/alloc-<pid>.heapprofile (Chrome DevTools' Memory tab opens it;
 * docs/profiling.md sums it by function). Only the main thread is sampled: the SQLite Store's thread is an
 * isolate of its own.
 */
import { writeFileSync } from "node:fs";
import { Session } from "node:inspector";
import path from "node:path";

const dir = process.env.SPOOL_BENCH_ALLOC_PROF;
if (dir) {
  const session = new Session();
  session.connect();
  // One sample per 32 KiB allocated (V8's default is 32 KiB too): a 100k-Item run gives ~40k samples.
  session.post("HeapProfiler.startSampling", { samplingInterval: 32 * 1024, includeObjectsCollectedByMajorGC: true, includeObjectsCollectedByMinorGC: true });
  process.on("exit", () => {
    // A session on the process's own thread answers synchronously, so this runs before the exit completes.
    session.post("HeapProfiler.stopSampling", (error, result) => {
      if (error) console.error(`alloc-profile: ${error.message}`);
      else writeFileSync(path.join(dir, `alloc-${process.pid}.heapprofile`), JSON.stringify(result.profile));
    });
  });
}
