#!/usr/bin/env node
// Entry for the `spool` command. Sources are TypeScript, bundled by ./typescript-bundle.js at the first start
// after they change (or compiled as they load by ./typescript-hooks.js), so a fresh clone needs no build step
// (`npm install && npm start`).
import { URL } from "node:url";
import { setFlagsFromString } from "node:v8";
import { typescriptBundle } from "./typescript-bundle.js";
import { registerTypeScript } from "./typescript.js";

// V8 allocates objects from code whose objects often survive a young collection straight into the old
// generation (allocation-site pretenuring). Under a running Batch that choice fills the old generation at
// the rate Items flow and forces a major collection about once a second on the main thread, pauses that
// sync requests wait out: p99 beside a 200k-Item Batch 14.5 -> 6.6 ms, Mark-Compacts in 5 s 9 -> 2, Batch
// CPU per Item 99-103 -> 90 us (decision 0042). Read by V8 at each collection, so setting it here works.
setFlagsFromString("--no-allocation-site-pretenuring");

// The sources as one bundle (built once per change of them), or through the loader hooks when it cannot be
// had. The Store's thread is told which (src/store/sqlite/thread/entry.js).
const bundle = await typescriptBundle();
let main;
if (bundle === null) {
  registerTypeScript();
  ({ main } = await import("../src/main.ts"));
} else {
  process.setSourceMapsEnabled(true);
  globalThis[Symbol.for("spool.typescriptBundle")] = bundle;
  ({ main } = await import(new URL("main.mjs", bundle).href));
}
await main(process.argv);
