/**
 * bin/typescript-bundle.js: `spool` runs its sources as one esbuild bundle, built at the first start after
 * they change (decision 0059). On a project of its own in a temporary directory: what the bundle runs is the
 * sources as they are now, files beside a source are found from it, stacks name the .ts lines, packages
 * resolve from the project's node_modules, and a bundle that cannot be built leaves the hooks to load the
 * sources. Then the real `spool` command: it starts from the bundle of this checkout.
 */
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, renameSync, rmSync, statSync, utimesSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { afterAll, describe, expect, it } from "vitest";

const BUNDLER = pathToFileURL(path.join(process.cwd(), "bin", "typescript-bundle.js")).href;
type Bundler = (root?: string) => Promise<string | null>;
const { typescriptBundle } = (await import(BUNDLER)) as { typescriptBundle: Bundler };

const dirs: string[] = [];
afterAll(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

/** A project with the bundle's two entry points, a file read from beside a source, and a package. */
function project(version: string): string {
  const root = mkdtempSync(path.join(tmpdir(), "spool-bundle-"));
  dirs.push(root);
  mkdirSync(path.join(root, "src", "store", "sqlite", "thread"), { recursive: true });
  mkdirSync(path.join(root, "node_modules", "left-pad-ish"), { recursive: true });
  writeFileSync(path.join(root, "node_modules", "left-pad-ish", "package.json"), JSON.stringify({ name: "left-pad-ish", type: "module", exports: "./index.js" }));
  writeFileSync(path.join(root, "node_modules", "left-pad-ish", "index.js"), "export const pad = (text) => `[${text}]`;\n");
  writeFileSync(path.join(root, "src", "note.txt"), "beside the source\n");
  writeSource(root, "main.ts", version);
  writeFileSync(path.join(root, "src", "store", "sqlite", "thread", "store-thread.ts"), "export const thread: string = \"thread\";\n");
  return root;
}

function writeSource(root: string, name: string, version: string): void {
  writeFileSync(
    path.join(root, "src", name),
    `import { readFileSync } from "node:fs";
import { pad } from "left-pad-ish";

interface Shape {
  version: string;
}

export const shape: Shape = { version: ${JSON.stringify(version)} };
export const padded: string = pad(shape.version);
export const note: string = readFileSync(new URL("./note.txt", import.meta.url), "utf8").trim();
export const url: string = import.meta.url;

export function fail(): never {
  throw new Error("from the source");
}
`,
  );
}

interface MainModule {
  shape: { version: string };
  padded: string;
  note: string;
  url: string;
  fail(): never;
}

async function load(bundle: string): Promise<MainModule> {
  return (await import(new URL(`main.mjs?${Math.random()}`, bundle).href)) as MainModule;
}

describe("the TypeScript bundle", () => {
  it("runs the sources as they are, with their own URLs, packages from the project, and .ts lines in stacks", async () => {
    const root = project("one");
    const first = await typescriptBundle(root);
    expect(first).not.toBeNull();
    expect(fileURLToPath(first!)).toContain(path.join(root, "node_modules", ".cache", "spool", "bundle-"));
    expect(existsSync(new URL("store-thread.mjs", first!))).toBe(true);
    const loaded = await load(first!);
    expect(loaded.shape.version).toBe("one");
    expect(loaded.padded).toBe("[one]");
    expect(loaded.note).toBe("beside the source");
    expect(loaded.url).toBe(pathToFileURL(path.join(root, "src", "main.ts")).href);

    // Stacks through the inline source maps, as bin/spool.js enables them.
    const script = `process.setSourceMapsEnabled(true); const m = await import(${JSON.stringify(new URL("main.mjs", first!).href)}); try { m.fail(); } catch (error) { console.log(error.stack); }`;
    const run = spawnSync(process.execPath, ["--input-type=module", "-e", script], { encoding: "utf8" });
    expect(run.stdout, run.stderr).toContain(`${path.join(root, "src", "main.ts")}:14`);

    // The same sources: the same bundle, not built again.
    const built = statSync(new URL("main.mjs", first!)).mtimeMs;
    expect(await typescriptBundle(root)).toBe(first);
    expect(statSync(new URL("main.mjs", first!)).mtimeMs).toBe(built);

    // An edited source (same length, so only its text tells): another bundle, which runs the edit.
    writeSource(root, "main.ts", "two");
    const second = await typescriptBundle(root);
    expect(second).not.toBe(first);
    expect((await load(second!)).shape.version).toBe("two");

    // Starts find the bundle from the sources' stats: an edit that keeps the length and puts the
    // modification time back (a copy preserving times) still changes the change time, so it is run.
    const file = path.join(root, "src", "main.ts");
    const when = 1_700_000_000; // whole seconds: set back exactly, to the nanosecond
    utimesSync(file, when, when);
    expect(await typescriptBundle(root)).toBe(second);
    writeSource(root, "main.ts", "six");
    utimesSync(file, when, when);
    expect(statSync(file, { bigint: true }).mtimeNs).toBe(BigInt(when) * 1_000_000_000n);
    const third = await typescriptBundle(root);
    expect(third).not.toBe(second);
    expect((await load(third!)).shape.version).toBe("six");
  });

  it("builds another bundle for the same sources in another place, naming that place's files", async () => {
    const first = project("one");
    const before = await typescriptBundle(first);
    // Moved with its node_modules (and so with the bundle built where it was).
    const moved = `${first}-moved`;
    dirs.push(moved);
    renameSync(first, moved);
    const after = await typescriptBundle(moved);
    expect(path.basename(fileURLToPath(after!))).not.toBe(path.basename(fileURLToPath(before!)));
    const loaded = await load(after!);
    expect(loaded.url).toBe(pathToFileURL(path.join(moved, "src", "main.ts")).href);
    expect(loaded.note).toBe("beside the source");
  });

  it("drops bundles unused for a week when it builds one, and keeps recent ones", async () => {
    const root = project("one");
    const cache = path.join(root, "node_modules", ".cache", "spool");
    const stale = path.join(cache, "bundle-stale");
    const recent = path.join(cache, "bundle-recent");
    mkdirSync(stale, { recursive: true });
    mkdirSync(recent, { recursive: true });
    const weekAgo = new Date(Date.now() - 8 * 24 * 3600_000);
    utimesSync(stale, weekAgo, weekAgo);
    // Fingerprints (sources' stats -> bundle) go the same way.
    const fingerprints = path.join(cache, "fingerprints");
    mkdirSync(fingerprints);
    writeFileSync(path.join(fingerprints, "stale"), "0".repeat(24));
    writeFileSync(path.join(fingerprints, "recent"), "0".repeat(24));
    utimesSync(path.join(fingerprints, "stale"), weekAgo, weekAgo);
    const bundle = await typescriptBundle(root);
    expect(readdirSync(cache).sort()).toEqual([path.basename(fileURLToPath(bundle!)), "bundle-recent", "fingerprints"].sort());
    expect(readdirSync(fingerprints)).toContain("recent");
    expect(readdirSync(fingerprints)).not.toContain("stale");
  });

  it("gives way to the hooks when a source cannot be bundled, or when told to", async () => {
    const root = project("one");
    writeFileSync(path.join(root, "src", "main.ts"), "export const broken = ;\n");
    expect(await typescriptBundle(root)).toBeNull();
    // Nothing half-built left behind.
    const cache = path.join(root, "node_modules", ".cache", "spool");
    expect(existsSync(cache) ? readdirSync(cache) : []).toEqual([]);

    const good = project("one");
    process.env.SPOOL_TYPESCRIPT_BUNDLE = "0";
    try {
      expect(await typescriptBundle(good)).toBeNull();
    } finally {
      delete process.env.SPOOL_TYPESCRIPT_BUNDLE;
    }
  });

  it("is what the spool command starts from", async () => {
    const bundle = await typescriptBundle();
    expect(bundle).not.toBeNull();
    const dir = fileURLToPath(bundle!);
    const long = new Date(Date.now() - 3600_000);
    utimesSync(dir, long, long);
    const run = spawnSync(process.execPath, [path.join(process.cwd(), "bin", "spool.js"), "--version"], { encoding: "utf8" });
    expect(run.status, run.stderr).toBe(0);
    // Found (and marked used) by the command, rather than built again or passed over for the hooks.
    expect(statSync(dir).mtimeMs).toBeGreaterThan(Date.now() - 60_000);
  });
});
