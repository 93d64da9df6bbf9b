/**
 * `npm run bench`: prints figures and ratios against baselines measured in the same run (the machine is
 * shared and noisy: absolute times drift, ratios hold). Select sections: `npm run bench -- validation e2e`.
 * `million` runs for several minutes (see bench/million.ts).
 */
import { benchBackends } from "./backends.ts";
import { benchCapacity } from "./capacity.ts";
import { benchChaos } from "./chaos.ts";
import { benchDashboard } from "./dashboard.ts";
import { benchMetrics } from "./metrics.ts";
import { benchEmbedDecode } from "./embed-decode.ts";
import { benchEndToEnd } from "./end-to-end.ts";
import { benchLlama } from "./llama.ts";
import { benchManyBatches } from "./many-batches.ts";
import { benchMedia } from "./media.ts";
import { benchMillion } from "./million.ts";
import { benchOrder } from "./order.ts";
import { benchListing } from "./listing.ts";
import { benchPacking } from "./packing.ts";
import { benchPrefix } from "./prefix.ts";
import { benchScaleOut } from "./scale-out.ts";
import { benchSched } from "./sched.ts";
import { benchStoreHotPath } from "./store-hot-path.ts";
import { benchStreaming } from "./streaming.ts";
import { benchSync } from "./sync.ts";
import { benchValidation } from "./validation.ts";

const sections: Record<string, () => Promise<void>> = {
  validation: () => benchValidation(),
  store: () => benchStoreHotPath(),
  e2e: () => benchEndToEnd(),
  "e2e-pg": () => benchEndToEnd(100_000, "postgres"),
  "many-batches": () => benchManyBatches(),
  sync: () => benchSync(),
  llama: () => benchLlama(),
  "scale-out": () => benchScaleOut(),
  listing: () => benchListing(),
  packing: () => benchPacking(),
  "embed-decode": () => benchEmbedDecode(),
  prefix: () => benchPrefix(),
  order: () => benchOrder(),
  dashboard: () => benchDashboard(),
  metrics: () => benchMetrics(),
  capacity: () => benchCapacity(),
  backends: () => benchBackends(),
  sched: () => benchSched(),
  streaming: () => benchStreaming(),
  media: () => benchMedia(),
  million: () => benchMillion(),
  chaos: async () => {
    if (!(await benchChaos())) process.exitCode = 1;
  },
};

const wanted = process.argv.slice(2).filter((arg) => arg in sections);
const planned = wanted.length > 0 ? wanted : Object.keys(sections);
console.log(`spool benchmarks — node ${process.version}, ${new Date().toISOString()}`);
// A full run once ended after one section with exit code 0 and no error (session 20): say so if it recurs.
let running: string | null = null;
process.on("exit", (code) => {
  if (running !== null) console.log(`\nbench: the process exited (code ${code}) during section '${running}'; sections not run: ${planned.slice(planned.indexOf(running) + 1).join(", ") || "none"}`);
});
for (const name of planned) {
  running = name;
  await sections[name]!();
}
running = null;
console.log(`\nbench: ${planned.length} section${planned.length === 1 ? "" : "s"} done, ${new Date().toISOString()}`);
