/**
 * Makes sure a data dir (or `spool run`'s work directory) exists and can be written before anything opens
 * a database or generates a model in it, so the operator reads "data dir X is not writable: <reason>"
 * instead of an SQLite or ENOENT stack trace from deep inside start-up.
 */
import { lstatSync, rmSync, statSync, writeFileSync } from "node:fs";
import path from "node:path";
import { makeDirectory } from "../core/make-directory.ts";
import { describeFileSystemError, errorCode, ExitCode, OperatorError } from "./operator-error.ts";

export interface DirectoryRole {
  /** How the message names the directory: "data dir", "work directory". */
  label: string;
  /** How to choose another one: "choose another one with --data-dir or SPOOL_DATA_DIR". */
  fix: string;
}

export function prepareWritableDirectory(dir: string, role: DirectoryRole): void {
  const target = path.resolve(dir);
  try {
    makeDirectory(target);
  } catch (error) {
    const file = errorCode(error) === "ENOTDIR" ? nearestNonDirectory(target) : null;
    if (file !== null) {
      const what = file === target ? "is a file, not a directory" : `cannot be created: ${file} is a file, not a directory`;
      throw new OperatorError(`${role.label} ${target} ${what}; ${role.fix}.`, ExitCode.environment, { cause: error });
    }
    throw new OperatorError(`${role.label} ${target} is not writable: cannot create it: ${creationFailure(error)}; ${role.fix}.`, ExitCode.environment, { cause: error });
  }
  // A directory can exist and still refuse files (read-only mount, permissions, procfs): try one.
  const probe = path.join(target, `.spool-write-check-${process.pid}`);
  try {
    writeFileSync(probe, "", { flag: "w" });
  } catch (error) {
    throw new OperatorError(`${role.label} ${target} is not writable: ${probeFailure(error)}; ${role.fix}.`, ExitCode.environment, { cause: error });
  }
  rmSync(probe, { force: true });
}

function creationFailure(error: unknown): string {
  const { path: at, syscall } = error as { path?: unknown; syscall?: unknown };
  if (errorCode(error) === "ENOENT" && typeof at === "string") {
    // makeDirectory made or found the parent, yet the entry still "does not exist": the parent refuses
    // new entries (procfs, sysfs) or is a symbolic link to nothing.
    if (syscall === "mkdir") return `${path.dirname(at)} does not accept new directories (ENOENT)`;
    if (isSymbolicLink(at)) return `${at} is a symbolic link to a missing target (ENOENT)`;
  }
  return describeFileSystemError(error);
}

/** The path itself or its closest existing ancestor, when that is not a directory. */
function nearestNonDirectory(target: string): string | null {
  for (let at = target; ; at = path.dirname(at)) {
    try {
      return statSync(at).isDirectory() ? null : at;
    } catch {
      if (path.dirname(at) === at) return null;
    }
  }
}

function isSymbolicLink(at: string): boolean {
  try {
    return lstatSync(at).isSymbolicLink();
  } catch {
    return false;
  }
}

/** The probe file's name means nothing to the operator; the reason alone does. */
function probeFailure(error: unknown): string {
  const code = errorCode(error);
  if (code === "ENOENT") return "it does not accept new files (ENOENT)";
  return describeFileSystemError({ code, message: error instanceof Error ? error.message : String(error) });
}
