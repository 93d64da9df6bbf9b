/**
 * bin/typescript.js and bin/typescript-hooks.js: how `spool` runs its TypeScript sources (decision 0033).
 * Every spool process the other tests start runs on them; these check what those cannot see: names are not
 * wrapped (the reason for the hooks), stacks point at the .ts lines, and an edited file is never served
 * from the cache.
 */
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { pathToFileURL } from "node:url";
import { afterAll, describe, expect, it } from "vitest";

const HOOKS = pathToFileURL(path.join(process.cwd(), "bin", "typescript-hooks.js")).href;
const REGISTER = pathToFileURL(path.join(process.cwd(), "bin", "typescript.js")).href;

interface LoadResult {
  format: string;
  source: string;
  shortCircuit?: boolean;
}
type LoadHook = (url: string, context: object, next: (url: string, context: object) => Promise<LoadResult>) => Promise<LoadResult>;

const dir = mkdtempSync(path.join(tmpdir(), "spool-ts-loader-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const FIXTURE = `interface Shape {
  width: number;
  height: number;
}

type Named = { name: string };

const area = (shape: Shape): number => shape.width * shape.height;

export function fail(named: Named): never {
  throw new Error(\`failed \${named.name} \${area({ width: 2, height: 3 } satisfies Shape)}\`);
}

export const label = "v1";
`;

async function loadHook(): Promise<LoadHook> {
  const hooks = (await import(HOOKS)) as { load: LoadHook };
  return hooks.load;
}

const refuse = (): Promise<LoadResult> => Promise.reject(new Error("not for the next loader"));

describe("the TypeScript loader", () => {
  it("strips types and leaves closures unwrapped (no keepNames)", async () => {
    const file = path.join(dir, "shape.ts");
    writeFileSync(file, FIXTURE);
    const load = await loadHook();
    const result = await load(pathToFileURL(file).href, {}, refuse);
    expect(result.format).toBe("module");
    expect(result.source).toContain("const area = (shape) => shape.width * shape.height;");
    expect(result.source).not.toContain("interface");
    expect(result.source).not.toContain("__name");
  });

  it("compiles an edited file again instead of serving the cached one", async () => {
    const file = path.join(dir, "edited.ts");
    const load = await loadHook();
    writeFileSync(file, FIXTURE);
    expect((await load(pathToFileURL(file).href, {}, refuse)).source).toContain('"v1"');
    writeFileSync(file, FIXTURE.replace('"v1"', '"v2"'));
    expect((await load(pathToFileURL(file).href, {}, refuse)).source).toContain('"v2"');
  });

  it("leaves JavaScript and node_modules to the next loader", async () => {
    const load = await loadHook();
    const passed: string[] = [];
    const next = async (url: string): Promise<LoadResult> => {
      passed.push(url);
      return { format: "module", source: "" };
    };
    await load("file:///x/a.js", {}, next);
    await load("file:///x/node_modules/p/index.ts", {}, next);
    await load("node:fs", {}, next);
    expect(passed).toEqual(["file:///x/a.js", "file:///x/node_modules/p/index.ts", "node:fs"]);
  });

  it("runs a TypeScript module in a fresh process with stacks that name its .ts lines", () => {
    const file = path.join(dir, "stack.ts");
    writeFileSync(file, FIXTURE);
    const script = `import { registerTypeScript } from ${JSON.stringify(REGISTER)};
registerTypeScript();
const fixture = await import(${JSON.stringify(pathToFileURL(file).href)});
try { fixture.fail({ name: "shape" }); } catch (error) { console.log(error.message); console.log(error.stack); }`;
    const run = spawnSync(process.execPath, ["--input-type=module", "-e", script], { encoding: "utf8", timeout: 30_000 });
    expect(run.stderr).toBe("");
    expect(run.stdout).toContain("failed shape 6");
    // Line 11 of the source; the compiled module has the interface and the type removed, so without the
    // source map the frame would name an earlier line.
    expect(run.stdout).toMatch(/stack\.ts:11:\d+/);
  });
});
