// Entry of the SQLite Store's thread. A worker thread does not inherit the main thread's tsx loader
// (bin/spool.js registers it in code), so the thread registers its own before loading the TypeScript.
import { register } from "tsx/esm/api";

register();
await import("./store-thread.ts");
