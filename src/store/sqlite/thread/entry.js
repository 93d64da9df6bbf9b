// Entry of the SQLite Store's thread. A worker thread does not inherit the main thread's TypeScript loader
// (bin/spool.js registers it in code), so the thread registers its own before loading the TypeScript.
import { registerTypeScript } from "../../../../bin/typescript.js";

registerTypeScript();
await import("./store-thread.ts");
