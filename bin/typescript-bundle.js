// Runs spool's TypeScript as one esbuild bundle of src/ (code split at its lazy imports), built at the first
// start after a source changed and reused by every start after it (decision 0059).
//
// Why not only the loader hooks (./typescript-hooks.js, which stay as the fallback): Node 20 runs
// module.register hooks on a thread of their own, and every import of every module crosses to it and back.
// Measured on a 2-core machine, a `spool` start that fails at its port took 3.2-3.7 s (3.9-4.5 s of CPU)
// through the hooks and 2.2-2.5 s (2.4 s) from the bundle; every spool command and every process the tests
// spawn pays it.
//
// The bundle lives in node_modules/.cache/spool/, under the project, so its bare imports (fastify, pg, ...)
// resolve to the project's node_modules as the sources' do. Its name is a hash of every source's path and
// text (with esbuild's and Node's versions and the options), so an edited source is never run stale; a
// start finds it from the sources' file stats (fingerprints/), reading the sources only when those changed.
import { createHash, randomBytes } from "node:crypto";
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, utimesSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import path from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { COMPILE_OPTIONS } from "./typescript-options.js";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
/** Bump when the bundle's output changes for the same sources (the name includes it). */
const BUNDLE_VERSION = 1;
/** What the bundle starts from: the CLI, and the SQLite Store's thread (its own module graph). */
const ENTRY_POINTS = { main: "src/main.ts", "store-thread": "src/store/sqlite/thread/store-thread.ts" };
/** Bundles not started from for this long go when a new one is built (a server keeps its own fresh). */
const KEEP_UNUSED_MS = 7 * 24 * 3600_000;
const COMPLETE = ".complete";

/**
 * The bundle's directory URL (with a trailing slash) for the sources as they are now, built if needed; null
 * when it cannot be had (SPOOL_TYPESCRIPT_BUNDLE=0, no esbuild, an unwritable node_modules, a source esbuild
 * refuses): the caller then loads the sources through the hooks, which name a broken file precisely.
 */
export async function typescriptBundle(root = ROOT) {
  if (process.env.SPOOL_TYPESCRIPT_BUNDLE === "0") return null;
  try {
    const cache = path.join(root, "node_modules", ".cache", "spool");
    const version = esbuildVersion();
    const names = sourceNames(root);
    // The sources' files as they stand name the bundle built from them last time, without reading them.
    const fingerprint = path.join(cache, "fingerprints", statsKey(root, names, version));
    const known = knownKey(fingerprint);
    if (known !== null && existsSync(path.join(cache, `bundle-${known}`, COMPLETE))) return use(path.join(cache, `bundle-${known}`));
    const key = sourcesKey(root, names, version);
    const dir = path.join(cache, `bundle-${key}`);
    if (!existsSync(path.join(dir, COMPLETE))) {
      await build(await import("esbuild"), root, dir);
      pruneUnused(cache, dir);
    }
    remember(fingerprint, key);
    return use(dir);
  } catch {
    return null;
  }
}

function use(dir) {
  markUsed(dir);
  return pathToFileURL(dir).href + "/";
}

/** From its package.json: importing esbuild's API only to ask was ~30 ms of every start. */
function esbuildVersion() {
  const manifest = createRequire(import.meta.url).resolve("esbuild/package.json");
  return JSON.parse(readFileSync(manifest, "utf8")).version;
}

/** What every key starts with: what changes the output besides the sources. */
function outputSettings(root, esbuildVersion) {
  return `${BUNDLE_VERSION}\0${esbuildVersion}\0${process.versions.node}\0${JSON.stringify(COMPILE_OPTIONS)}\0${root}\0`;
}

function sourceNames(root) {
  return readdirSync(path.join(root, "src"), { recursive: true }).filter((name) => name.endsWith(".ts")).sort();
}

/**
 * Every .ts source's path, size, inode, modification and change times: reading and hashing the 330 sources
 * was 15-90 ms of every start, their stats are 2-3 ms. The change time is the kernel's (no tool can set it),
 * so an edit that keeps the size and puts the modification time back (a copy preserving times) still
 * changes the key. A key not seen before costs one read of the sources (sourcesKey), no more.
 */
function statsKey(root, names, esbuildVersion) {
  const hash = createHash("sha256").update(`stats\0${outputSettings(root, esbuildVersion)}`);
  for (const name of names) {
    const stats = statSync(path.join(root, "src", name), { bigint: true });
    hash.update(`${name}\0${stats.size}\0${stats.ino}\0${stats.mtimeNs}\0${stats.ctimeNs}\0`);
  }
  return hash.digest("hex").slice(0, 24);
}

function knownKey(fingerprint) {
  try {
    const key = readFileSync(fingerprint, "utf8");
    return /^[0-9a-f]{24}$/.test(key) ? key : null;
  } catch {
    return null;
  }
}

/** Written whole (a rename), so a start beside this one reads a key or nothing. */
function remember(fingerprint, key) {
  try {
    mkdirSync(path.dirname(fingerprint), { recursive: true });
    const partial = `${fingerprint}.${process.pid}.${randomBytes(4).toString("hex")}`;
    writeFileSync(partial, key);
    renameSync(partial, fingerprint);
  } catch {
    // The next start reads the sources again.
  }
}

/**
 * Every .ts source's path and text, with what else changes the output. The project's own path too: the
 * bundle holds each source's URL (below), so a project moved or copied with its node_modules, or another
 * checkout sharing them through a link, must not run a bundle that names the other place's files.
 * 15-90 ms for 330 files, so a start does it only for sources whose stats it has not seen (statsKey).
 */
function sourcesKey(root, names, esbuildVersion) {
  const hash = createHash("sha256").update(outputSettings(root, esbuildVersion));
  for (const name of names) hash.update(name).update("\0").update(readFileSync(path.join(root, "src", name))).update("\0");
  return hash.digest("hex").slice(0, 24);
}

/**
 * Built into a directory of its own and renamed into place whole, so a process starting beside this one
 * either finds no bundle (and builds its own; the second rename loses and is thrown away) or a complete one.
 */
async function build(esbuild, root, dir) {
  const partial = `${dir}.${process.pid}.${randomBytes(4).toString("hex")}`;
  try {
    await esbuild.build({
      absWorkingDir: root,
      entryPoints: ENTRY_POINTS,
      bundle: true,
      splitting: true,
      format: "esm",
      platform: "node",
      packages: "external",
      outdir: partial,
      outExtension: { ".js": ".mjs" },
      ...COMPILE_OPTIONS,
      plugins: [sourceFileUrls],
      logLevel: "silent",
    });
    writeFileSync(path.join(partial, COMPLETE), "");
    try {
      renameSync(partial, dir);
    } catch (error) {
      // Another process put the same bundle there first: use its.
      if (!existsSync(path.join(dir, COMPLETE))) throw error;
    }
  } finally {
    rmSync(partial, { recursive: true, force: true });
    await esbuild.stop?.();
  }
}

/**
 * Sources find files beside them (migrations, dashboard assets, the Store thread's entry, package.json) from
 * `import.meta.url`; in a bundle that would be the chunk's URL, so each source's own URL is written in.
 */
const sourceFileUrls = {
  name: "source-file-urls",
  setup(build) {
    build.onLoad({ filter: /\.ts$/ }, (args) => {
      const text = readFileSync(args.path, "utf8");
      return { contents: text.replaceAll("import.meta.url", JSON.stringify(pathToFileURL(args.path).href)), loader: "ts" };
    });
  },
};

function markUsed(dir) {
  try {
    const now = new Date();
    utimesSync(dir, now, now);
  } catch {
    // Only pruning reads it.
  }
}

function pruneUnused(cache, keep) {
  try {
    for (const name of readdirSync(cache)) {
      const dir = path.join(cache, name);
      if (dir === keep || !name.startsWith("bundle-")) continue;
      if (Date.now() - statSync(dir).mtimeMs > KEEP_UNUSED_MS) rmSync(dir, { recursive: true, force: true });
    }
    // Fingerprints of old sources; one still in use that goes costs its next start one read of the sources.
    const fingerprints = path.join(cache, "fingerprints");
    for (const name of existsSync(fingerprints) ? readdirSync(fingerprints) : []) {
      const file = path.join(fingerprints, name);
      if (Date.now() - statSync(file).mtimeMs > KEEP_UNUSED_MS) rmSync(file, { force: true });
    }
  } catch {
    // A bundle left behind costs disk, not correctness.
  }
}
