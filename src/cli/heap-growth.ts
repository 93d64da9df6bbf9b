/**
 * How far V8 lets the old generation grow past what the last full GC kept alive, for every spool process
 * (issue 11). Node's default lets it reach up to 4x the live size on a machine with memory to spare: a
 * serving process with 30-40 MB live swelled to 130-150 MB of heap, mostly garbage, between full GCs, the
 * largest part of a 1M-Item Batch's 390 MB peak. A fixed 2x keeps that Batch's process under 260 MB at
 * about the CPU of the default; 1.5x saved only 5-10 MB more and cost ~13% more CPU per Item in full
 * GCs (decision 0028).
 *
 * Set at run time because `spool` is started as a command, where node's flags cannot be given (and
 * NODE_OPTIONS refuses this one); V8 reads the flag at every full GC, so setting it after start works.
 * An operator who starts node with their own `--heap-growing-percent` (0: V8's default) keeps it.
 */
import { setFlagsFromString } from "node:v8";

export const HEAP_GROWING_PERCENT = 100;

/** The V8 flag to set, or null when node was started with its own. */
export function heapGrowthFlag(execArgv: readonly string[]): string | null {
  const own = execArgv.some((arg) => /^--heap[-_]growing[-_]percent(=|$)/.test(arg));
  return own ? null : `--heap-growing-percent=${HEAP_GROWING_PERCENT}`;
}

export function limitHeapGrowth(): void {
  const flag = heapGrowthFlag(process.execArgv);
  if (flag !== null) setFlagsFromString(flag);
}
