// Entry of the SQLite Store's thread. A worker thread does not inherit the main thread's module loading: in a
// process run from bin/typescript-bundle.js's bundle (`workerData.bundle`) the thread loads its part of it;
// otherwise it registers the TypeScript loader hooks (bin/spool.js does that in code) and loads the source.
import process from "node:process";
import { URL } from "node:url";
import { workerData } from "node:worker_threads";

if (typeof workerData?.bundle === "string") {
  process.setSourceMapsEnabled(true);
  await import(new URL("store-thread.mjs", workerData.bundle).href);
} else {
  const { registerTypeScript } = await import("../../../../bin/typescript.js");
  registerTypeScript();
  await import("./store-thread.ts");
}
