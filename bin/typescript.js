// Runs spool's TypeScript sources without a build step: registers ./typescript-hooks.js (esbuild, types
// stripped, cached on disk) for this thread. A worker thread registers its own (src/store/sqlite/thread/entry.js).
import { register } from "node:module";

let registered = false;

export function registerTypeScript() {
  if (registered) return;
  registered = true;
  // Error stacks point at the .ts lines through the inline source maps.
  process.setSourceMapsEnabled(true);
  register("./typescript-hooks.js", import.meta.url);
}
