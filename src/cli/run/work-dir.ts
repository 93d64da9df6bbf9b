/**
 * `spool run`'s work directory: a lock (one run per work dir) and a marker naming the Batch and the input's
 * SHA-256, so a run started again with the same input resumes that Batch.
 */
import { createHash } from "node:crypto";
import { createReadStream, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import path from "node:path";
import type { Dialect } from "../../core/types.ts";
import { UsageError } from "./plan.ts";

const MARKER_FILE = "run.json";
const LOCK_FILE = "run.lock";

export interface RunMarker {
  batchId: string;
  input: string;
  inputSha256: string;
  dialect: Dialect;
  model: string | null;
}

/** One run per work dir: a second would share its SQLite file and run the same Items. */
export function lockWorkDir(workDir: string): void {
  const lockPath = path.join(workDir, LOCK_FILE);
  for (let tries = 0; tries < 2; tries += 1) {
    try {
      writeFileSync(lockPath, String(process.pid), { flag: "wx" });
      process.on("exit", () => rmSync(lockPath, { force: true }));
      return;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "EEXIST") throw error;
    }
    const holder = Number.parseInt(readFileSync(lockPath, "utf8"), 10);
    if (Number.isInteger(holder) && holder !== process.pid && isAlive(holder)) {
      throw new UsageError(`spool run: another run (pid ${holder}) is working in ${workDir}; wait for it to finish or stop it.`);
    }
    rmSync(lockPath, { force: true }); // left by a run that was killed
  }
  throw new UsageError(`spool run: cannot lock ${workDir}.`);
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "EPERM";
  }
}

export function readMarker(workDir: string): RunMarker | null {
  try {
    const parsed = JSON.parse(readFileSync(path.join(workDir, MARKER_FILE), "utf8")) as Partial<RunMarker>;
    return typeof parsed.batchId === "string" && typeof parsed.inputSha256 === "string" ? (parsed as RunMarker) : null;
  } catch {
    return null;
  }
}

export function writeMarker(workDir: string, marker: RunMarker): void {
  const file = path.join(workDir, MARKER_FILE);
  writeFileSync(`${file}.tmp`, `${JSON.stringify(marker, null, 2)}\n`);
  renameSync(`${file}.tmp`, file);
}

export async function sha256Of(file: string): Promise<string> {
  const hash = createHash("sha256");
  for await (const chunk of createReadStream(file, { highWaterMark: 1024 * 1024 })) hash.update(chunk as Buffer);
  return hash.digest("hex");
}
