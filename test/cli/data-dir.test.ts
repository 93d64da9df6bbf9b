/**
 * The data dir check before start-up, and the `mkdir -p` under it. (The /proc case, where Node's own
 * recursive mkdir never returns, runs in a child process in startup-errors.test.ts: here it would hang the
 * test worker if it regressed.)
 */
import { existsSync, readdirSync, statSync, symlinkSync, writeFileSync } from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { prepareWritableDirectory } from "../../src/cli/data-dir.ts";
import { OperatorError } from "../../src/cli/operator-error.ts";
import { makeDirectory } from "../../src/core/make-directory.ts";
import { testWorkDir } from "../helpers/test-dirs.ts";

const ROLE = { label: "data dir", fix: "choose another one with --data-dir" };

function failureOf(run: () => void): OperatorError {
  try {
    run();
  } catch (error) {
    expect(error).toBeInstanceOf(OperatorError);
    return error as OperatorError;
  }
  throw new Error("no error");
}

describe("makeDirectory", () => {
  const dir = testWorkDir("cli", "make-directory");

  it("creates missing parents and accepts an existing directory", () => {
    const nested = path.join(dir, "a", "b", "c");
    makeDirectory(nested);
    expect(statSync(nested).isDirectory()).toBe(true);
    expect(() => makeDirectory(nested)).not.toThrow();
  });

  it("reports ENOTDIR for a file in the way, and ENOENT for a symbolic link to nothing", () => {
    const file = path.join(dir, "file");
    writeFileSync(file, "x");
    expect(() => makeDirectory(file)).toThrow(expect.objectContaining({ code: "ENOTDIR", path: file }));
    expect(() => makeDirectory(path.join(file, "below"))).toThrow(expect.objectContaining({ code: "ENOTDIR" }));
    const dangling = path.join(dir, "dangling");
    symlinkSync(path.join(dir, "nowhere"), dangling);
    expect(() => makeDirectory(path.join(dangling, "data"))).toThrow(expect.objectContaining({ code: "ENOENT" }));
  });
});

describe("prepareWritableDirectory", () => {
  const dir = testWorkDir("cli", "prepare-writable-directory");

  it("creates the directory and leaves no probe file behind", () => {
    const dataDir = path.join(dir, "fresh", "data");
    prepareWritableDirectory(dataDir, ROLE);
    expect(existsSync(dataDir)).toBe(true);
    expect(readdirSync(dataDir)).toEqual([]);
  });

  it("names a file given as the data dir, or standing in its path", () => {
    const file = path.join(dir, "a-file");
    writeFileSync(file, "x");
    const itself = failureOf(() => prepareWritableDirectory(file, ROLE));
    expect(itself.message).toBe(`data dir ${file} is a file, not a directory; choose another one with --data-dir.`);
    expect(itself.exitCode).toBe(3);
    const below = path.join(file, "data");
    expect(failureOf(() => prepareWritableDirectory(below, ROLE)).message).toBe(`data dir ${below} cannot be created: ${file} is a file, not a directory; choose another one with --data-dir.`);
  });

  it("names a symbolic link to nothing in the path", () => {
    const dangling = path.join(dir, "dangling");
    symlinkSync(path.join(dir, "nowhere"), dangling);
    const target = path.join(dangling, "data");
    expect(failureOf(() => prepareWritableDirectory(target, ROLE)).message).toBe(
      `data dir ${target} is not writable: cannot create it: ${dangling} is a symbolic link to a missing target (ENOENT); choose another one with --data-dir.`,
    );
  });
});
