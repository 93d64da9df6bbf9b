/**
 * The capacity ledger: how many of each Model's request slots every live process holds, so that processes
 * sharing one PostgreSQL never send an upstream more than the Model's configured `concurrency` together
 * (src/worker/capacity-shares.ts, docs/decisions/0020-adaptive-concurrency-capacity.md). One row per
 * (Model, process): the slots it would use (`demand`) and the slots it holds (`held`), refreshed by a
 * heartbeat. Rows not refreshed within `staleMs` belong to dead processes and are deleted by whoever beats
 * next. Part of the Store contract.
 *
 * A beat reads every live row and writes this process's rows in one transaction that excludes every other
 * beat, so the sum of `held` over live rows is kept within the budget by whoever writes it (`decide`).
 */

export interface CapacityRow {
  model: string;
  owner: string;
  /** Slots the process would use now (running + waiting, capped at the Model's concurrency). */
  demand: number;
  /** Slots the process may use (its Dispatcher's ceiling is at most this). */
  held: number;
}

/** This process's new row for one Model. */
export interface CapacityClaim {
  model: string;
  demand: number;
  held: number;
}

export interface CapacityBeat {
  /** The process (its Worker owner string). */
  owner: string;
  nowMs: number;
  /** Rows older than this are dead processes'. */
  staleMs: number;
  /**
   * Given every live row (this process's previous ones included, stale ones already gone), returns this
   * process's rows. Pure: a transaction that must be redone calls it again.
   */
  decide: (rows: readonly CapacityRow[]) => readonly CapacityClaim[];
}

export interface CapacityLedger {
  /** One heartbeat: rows read, `decide`d and written atomically. Returns what `decide` returned. */
  beatCapacity(beat: CapacityBeat): Promise<readonly CapacityClaim[]>;
  /** Removes this process's rows (clean shutdown), so the others may take its slots at their next beat. */
  leaveCapacity(owner: string): Promise<void>;
}
