/**
 * The CLI where a new user looks first (issue 17): `spool --version` is the package's version, and every
 * command's `--help` ends with examples to paste.
 */
import { execFile } from "node:child_process";
import { readFileSync } from "node:fs";
import path from "node:path";
import { promisify } from "node:util";
import { describe, expect, it } from "vitest";

const run = promisify(execFile);
const BIN = path.join(process.cwd(), "bin", "spool.js");

async function spool(...args: string[]): Promise<string> {
  return (await run(process.execPath, [BIN, ...args])).stdout;
}

describe("spool --version and --help", () => {
  it("prints the version from package.json", async () => {
    const { version } = JSON.parse(readFileSync("package.json", "utf8")) as { version: string };
    expect((await spool("--version")).trim()).toBe(version);
  });

  it("ends every command's help with examples of that command", async () => {
    for (const command of ["serve", "worker", "run", "validate", "watch", "batches", "compact"]) {
      const help = await spool(command, "--help");
      const examples = help.slice(help.indexOf("\nExamples:\n"));
      expect(examples, command).toMatch(new RegExp(`^\\nExamples:\\n {2}spool ${command}\\b`));
    }
    const top = await spool("--help");
    expect(top).toContain("npx spool --help");
    expect(top).toMatch(/Exit codes: 0 ok/);
  });
});
