/**
 * `mkdir -p` that always ends. Node's own `mkdirSync(dir, { recursive: true })` (and the async form) loops
 * forever when a parent exists but refuses children with ENOENT, as everything under /proc does and a
 * dangling symlink does: it steps back on ENOENT, forward on the parent's EEXIST, and tries the child again,
 * burning a core inside one synchronous call, so no signal handler ever runs (issue 9, item 10). Here each
 * level is tried at most twice: once, and once more after its parent was made.
 *
 * Errors are the system's own (`code`, `path`), so callers can explain them; an existing entry that is
 * not a directory is reported as ENOTDIR for that path.
 */
import { mkdirSync, statSync } from "node:fs";
import path from "node:path";

export function makeDirectory(dir: string): void {
  const target = path.resolve(dir);
  try {
    mkdirSync(target);
    return;
  } catch (error) {
    const code = errorCode(error);
    if (code === "EEXIST") return requireDirectory(target, error);
    if (code !== "ENOENT") throw error;
    const parent = path.dirname(target);
    if (parent === target) throw error;
    makeDirectory(parent);
  }
  // The parent exists now; a second ENOENT here (procfs, a dangling symlink) is final.
  try {
    mkdirSync(target);
  } catch (error) {
    if (errorCode(error) === "EEXIST") return requireDirectory(target, error);
    throw error;
  }
}

function requireDirectory(target: string, cause: unknown): void {
  if (statSync(target).isDirectory()) return;
  throw Object.assign(new Error(`ENOTDIR: not a directory, mkdir '${target}'`, { cause }), { code: "ENOTDIR", syscall: "mkdir", path: target });
}

function errorCode(error: unknown): string | undefined {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === "string" ? code : undefined;
}
