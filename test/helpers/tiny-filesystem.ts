/**
 * A small tmpfs mounted for one test, to make "the disk is full" real and deterministic: the test fills it
 * with a filler file until the kernel answers ENOSPC, checks what spool does, then deletes the filler to give
 * the space back. Needs root (mount); where mounting is not allowed, `tinyFilesystemUnavailableReason()` says
 * why and the tests that need it are skipped.
 */
import { execFileSync } from "node:child_process";
import { closeSync, openSync, rmSync, writeSync } from "node:fs";
import path from "node:path";
import { testWorkDir } from "./test-dirs.ts";

export interface TinyFilesystem {
  dir: string;
  /** Writes a filler file until the filesystem is full (ENOSPC). */
  fill(): void;
  /** Deletes the filler: the space is back. */
  free(): void;
  unmount(): void;
}

let probe: string | null | undefined;

/** Null when a tmpfs can be mounted here; otherwise why not (checked once per process). */
export function tinyFilesystemUnavailableReason(): string | null {
  if (probe !== undefined) return probe;
  try {
    mountTinyFilesystem("tmpfs probe", 64 * 1024).unmount();
    probe = null;
  } catch (error) {
    probe = `cannot mount a tmpfs here (needs root): ${(error as Error).message.split("\n")[0] ?? ""}`;
  }
  return probe;
}

export function mountTinyFilesystem(testName: string, bytes: number): TinyFilesystem {
  const dir = testWorkDir("tmpfs", testName);
  execFileSync("mount", ["-t", "tmpfs", "-o", `size=${Math.ceil(bytes / 1024)}k`, "tmpfs", dir], { stdio: "pipe" });
  const filler = path.join(dir, ".filler");
  let mounted = true;
  return {
    dir,
    fill() {
      const fd = openSync(filler, "a");
      const block = Buffer.alloc(4096, 1);
      try {
        for (;;) writeSync(fd, block);
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== "ENOSPC") throw error;
      } finally {
        closeSync(fd);
      }
    },
    free() {
      rmSync(filler, { force: true });
    },
    unmount() {
      if (!mounted) return;
      mounted = false;
      // Lazy: a file a test left open must not leave the mount behind.
      execFileSync("umount", ["-l", dir], { stdio: "pipe" });
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
