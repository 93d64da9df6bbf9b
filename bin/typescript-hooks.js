// Module loader hooks that run spool's TypeScript sources: each `.ts` file outside node_modules is compiled
// by esbuild (types stripped, nothing else changed) and cached on disk by content, so a second start
// compiles nothing. Node runs these hooks on its loader thread (module.register in ./typescript.js).
//
// Why not tsx's loader (which spool used before): tsx compiles with esbuild's `keepNames`, which wraps every
// named function and closure in a call that defines its `name` as it is created; on the Batch hot path
// that was 3-4% of the main thread's CPU (decision 0033). spool never reads a function's name, and without
// minification esbuild keeps names as written anyway.
import { createHash } from "node:crypto";
import { mkdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { tmpdir, userInfo } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { stop, transform, version as esbuildVersion } from "esbuild";
import { COMPILE_OPTIONS } from "./typescript-options.js";

const OPTIONS = { loader: "ts", format: "esm", ...COMPILE_OPTIONS };

/** Bump when the hooks' output changes for the same input (the cache key includes it). */
const HOOKS_VERSION = 1;
const CACHE_DIR = path.join(tmpdir(), `spool-typescript-${safeUser()}`);
const KEY_PREFIX = `${HOOKS_VERSION}\0${esbuildVersion}\0${process.versions.node}\0${JSON.stringify(OPTIONS)}\0`;

function safeUser() {
  try {
    return String(userInfo().uid);
  } catch {
    return "any";
  }
}

/** Compiles running now; esbuild's service process is stopped once none ran for STOP_AFTER_MS. */
let compiling = 0;
let stopTimer = null;
const STOP_AFTER_MS = 2_000;

/**
 * esbuild compiles in a service process that otherwise lives as long as spool (~12-20 MB each, one per
 * thread that loads TypeScript). Sources load at start, so once compiling stops the service is not needed;
 * a later compile (a lazily imported module) starts it again.
 */
function stopSoon() {
  if (stopTimer !== null) clearTimeout(stopTimer);
  stopTimer = setTimeout(() => {
    stopTimer = null;
    if (compiling === 0) void stop();
  }, STOP_AFTER_MS);
  stopTimer.unref();
}

export async function load(url, context, nextLoad) {
  if (!url.startsWith("file:") || !url.endsWith(".ts") || url.includes("/node_modules/")) return nextLoad(url, context);
  const filePath = fileURLToPath(url);
  const source = await readFile(filePath, "utf8");
  return { format: "module", source: await compiled(filePath, source), shortCircuit: true };
}

async function compiled(filePath, source) {
  const key = createHash("sha256").update(KEY_PREFIX).update(filePath).update("\0").update(source).digest("hex");
  const cached = path.join(CACHE_DIR, `${key}.js`);
  try {
    return readFileSync(cached, "utf8");
  } catch {
    // Not compiled yet (or the cache was cleared): compile below.
  }
  compiling += 1;
  let code;
  try {
    ({ code } = await transform(source, { ...OPTIONS, sourcefile: filePath }));
  } finally {
    compiling -= 1;
    stopSoon();
  }
  try {
    // Written whole under a temporary name, then renamed: a process reading the cache never sees half a file.
    mkdirSync(CACHE_DIR, { recursive: true });
    const partial = `${cached}.${process.pid}.${Math.random().toString(36).slice(2)}`;
    writeFileSync(partial, code);
    renameSync(partial, cached);
  } catch {
    // A cache that cannot be written (read-only tmp) only costs the next start a compile.
  }
  return code;
}
