/**
 * Per-test scratch paths under test/.work (git-ignored). Named after the test so a failing test's database
 * or data dir is easy to find and inspect afterwards; a random suffix keeps reruns and retries apart.
 */
import { randomBytes } from "node:crypto";
import { mkdirSync } from "node:fs";
import path from "node:path";

export const TEST_WORK_ROOT = path.join(process.cwd(), "test", ".work");

/** `store > claims items in order` -> `store-claims-items-in-order` (at most 80 chars). */
export function sanitizeTestName(testName: string): string {
  const slug = testName
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, "-")
    .replace(/^-+|-+$/g, "")
    .slice(0, 80)
    .replace(/-+$/, "");
  return slug || "test";
}

/** A fresh path `test/.work/<area>/<test-name>-<random><extension>`; its folder exists, the path does not. */
export function testWorkPath(area: string, testName: string, extension = ""): string {
  const dir = path.join(TEST_WORK_ROOT, area);
  mkdirSync(dir, { recursive: true });
  return path.join(dir, `${sanitizeTestName(testName)}-${randomBytes(4).toString("hex")}${extension}`);
}

/** Like testWorkPath, but creates the directory. */
export function testWorkDir(area: string, testName: string): string {
  const dir = testWorkPath(area, testName);
  mkdirSync(dir, { recursive: true });
  return dir;
}
