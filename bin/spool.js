#!/usr/bin/env node
// Entry for the `spool` command. Sources are TypeScript, compiled as they load by ./typescript-hooks.js
// (cached on disk), so a fresh clone needs no build step (`npm install && npm start`).
import { setFlagsFromString } from "node:v8";
import { registerTypeScript } from "./typescript.js";

// V8 allocates objects from code whose objects often survive a young collection straight into the old
// generation (allocation-site pretenuring). Under a running Batch that choice fills the old generation at
// the rate Items flow and forces a major collection about once a second on the main thread, pauses that
// sync requests wait out: p99 beside a 200k-Item Batch 14.5 -> 6.6 ms, Mark-Compacts in 5 s 9 -> 2, Batch
// CPU per Item 99-103 -> 90 us (decision 0042). Read by V8 at each collection, so setting it here works.
setFlagsFromString("--no-allocation-site-pretenuring");

registerTypeScript();
const { main } = await import("../src/main.ts");
await main(process.argv);
