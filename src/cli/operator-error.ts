/**
 * Mistakes of the person running spool (a busy port, a data dir that cannot be written, a missing file),
 * as opposed to bugs. `main` prints an OperatorError's message as one line, without a stack trace, and
 * exits with its code; anything else is a bug and keeps its stack.
 *
 * The exit codes are documented in the README (Commands) and stable: scripts and service managers branch
 * on them (systemd's RestartPreventExitStatus=2 3 stops a restart loop on a mistake no restart can fix).
 */
import { accessSync, constants, statSync } from "node:fs";
import { CommanderError } from "commander";
import { ConfigError } from "../config/load-config.ts";

export const ExitCode = {
  ok: 0,
  /** `spool validate` found problems, `spool run`'s batch failed, or an unexpected error (a bug). */
  failure: 1,
  /** The command line or the configuration is wrong. */
  usage: 2,
  /** The environment does not allow start-up: port, host, data dir, database. */
  environment: 3,
} as const;

export type ExitCodeValue = (typeof ExitCode)[keyof typeof ExitCode];

export class OperatorError extends Error {
  constructor(
    message: string,
    readonly exitCode: ExitCodeValue,
    options: { cause?: unknown } = {},
  ) {
    super(message, options);
    this.name = "OperatorError";
  }
}

/** The errno code (`ENOENT`) or driver code (`SQLITE_CANTOPEN`, `3D000`) of an error, if it has one. */
export function errorCode(error: unknown): string | undefined {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === "string" ? code : undefined;
}

/** A failed file-system call in words, ending with its code: "permission denied (EACCES)". */
export function describeFileSystemError(error: unknown): string {
  const code = errorCode(error);
  const at = (error as { path?: unknown } | null)?.path;
  const where = typeof at === "string" ? at : "the path";
  switch (code) {
    case "EACCES":
    case "EPERM":
      return `permission denied (${code})`;
    case "EROFS":
      return "read-only file system (EROFS)";
    case "ENOSPC":
      return "no space left on the device (ENOSPC)";
    case "EDQUOT":
      return "disk quota exceeded (EDQUOT)";
    case "ENOTDIR":
      return `${where} is not a directory (ENOTDIR)`;
    case "EISDIR":
      return `${where} is a directory (EISDIR)`;
    case "ENOENT":
      return `${where} does not exist (ENOENT)`;
    case "ELOOP":
      return `too many symbolic links at ${where} (ELOOP)`;
    case "ENAMETOOLONG":
      return "the path is too long (ENAMETOOLONG)";
    case undefined:
      return error instanceof Error ? error.message : String(error);
    default:
      return code;
  }
}

/**
 * Prints a failure that ended a command and returns the exit code: one line for an operator's mistake,
 * the stack for a bug. Commander has already printed its own usage errors.
 */
export function reportFailure(error: unknown): ExitCodeValue {
  if (error instanceof CommanderError) return error.exitCode === 0 ? ExitCode.ok : ExitCode.usage;
  if (error instanceof OperatorError || error instanceof ConfigError) {
    process.stderr.write(`${error.message}\n`);
    return error instanceof OperatorError ? error.exitCode : ExitCode.usage;
  }
  process.stderr.write(`spool: unexpected error (a bug; please report it): ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  return ExitCode.failure;
}

/** An input file a command reads (`spool validate FILE`, `spool run -i FILE`): exists, is a file, is readable. */
export function requireReadableFile(file: string, command: string): void {
  let problem: string | null = null;
  try {
    if (statSync(file).isDirectory()) problem = "is a directory, not a file";
    else accessSync(file, constants.R_OK);
  } catch (error) {
    const code = errorCode(error);
    problem = code === "ENOENT" ? "does not exist (ENOENT)" : `cannot be read: ${describeFileSystemError({ code, message: String(error) })}`;
  }
  if (problem !== null) throw new OperatorError(`${command}: the input file ${file} ${problem}: check the path.`, ExitCode.usage);
}
