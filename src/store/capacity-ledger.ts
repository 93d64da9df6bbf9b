/**
 * The capacity ledger: which live processes want to send requests to which Model, so that processes sharing
 * one PostgreSQL split each Model's configured `concurrency` among themselves (src/worker/capacity-shares.ts,
 * docs/decisions/0020-adaptive-concurrency-capacity.md). One row per (Model, process), refreshed by a
 * heartbeat; rows not refreshed within `staleMs` belong to dead processes and are deleted by whoever beats
 * next. Part of the Store contract.
 */

export interface CapacityBeat {
  /** The process (its Worker owner string). */
  owner: string;
  /** Every configured Model, and whether this process has requests for it (running or queued). */
  demands: readonly { model: string; wants: boolean }[];
  nowMs: number;
  /** Rows older than this are dead processes'. */
  staleMs: number;
}

export interface CapacityCount {
  live: number;
  wanting: number;
}

export interface CapacityLedger {
  /**
   * Records this process's demands and returns, per Model, how many live processes there are and how many
   * of them want it (this one included).
   */
  beatCapacity(beat: CapacityBeat): Promise<Record<string, CapacityCount>>;
  /** Removes this process's rows (clean shutdown), so the others take its share at their next beat. */
  leaveCapacity(owner: string): Promise<void>;
}
