/**
 * How many Batch requests each backend of a Model may run at once: cheapest first, dearer ones only as
 * much as the deadlines need (issue 12, part 5; decision 0022). Pure.
 *
 * The offline plan this follows: with backends of fixed price per Item and fixed capacity (Items per
 * second), the cheapest way to finish W Items in T seconds fills the cheapest backend for all of T, then
 * the next cheapest, and so on, the last one only partly. Online, with `demand` the rate the queued
 * deadlines need now (the EDF demand bound: the most, over Batches in deadline order, of the work due by a
 * deadline over the time left to it, measured by the Worker lane from the queue), the same plan is: the
 * cheapest usable backend gets its whole limit, each next one what the cheaper ones leave of `demand` as a
 * rate of Batch starts (`rate`, Items per second; with the slots that rate needs at its pace, rounded up),
 * the rest none. A rate rather than whole slots: one slot of a fast backend can be many times what is
 * needed (one slot at 20 ms is 50 Items/s), and slots alone would overspend by that much. Re-planned as
 * the queue and measurements change, it corrects itself: ahead of plan, the demand falls and the dear
 * backend gets less.
 *
 * A backend's capacity is its limit over its smoothed latency (Little's law), known after its first
 * answer. A dearer backend whose pace is unknown gets one request at a time when demand reaches it, to learn
 * it. A backend whose breaker is open counts for nothing, so the next one takes its place in the order:
 * the cheapest usable backend always runs at its whole limit, whatever the demand. Sync requests and
 * failovers do not ask: they may use any backend's whole limit.
 */

export interface BackendPace {
  /** Requests it may run at once (its adaptive limit). */
  limit: number;
  /** Smoothed latency of its successes in ms, or null before the first. */
  latencyMs: number | null;
  /** False while its breaker is open. */
  usable: boolean;
}

/** Ask a little more than the bound: the pace is measured, and rounding and the last Items lag. */
export const DEMAND_MARGIN = 1.05;

/** What one backend may take of Batch traffic now. */
export interface Allowance {
  /** Batch requests it may run at once. */
  slots: number;
  /** Batch requests it may start per second; null: as many as its slots allow. */
  rate: number | null;
}

const NONE: Allowance = { slots: 0, rate: null };

/** What each backend may take of Batch traffic, in the order given (cheapest first). */
export function backendAllowances(backends: readonly BackendPace[], demand: number): Allowance[] {
  let need = demand * DEMAND_MARGIN;
  let first = true;
  // Of the backend filled before: unknown, what it leaves of the demand is unknown too.
  let paceKnown = true;
  return backends.map((backend): Allowance => {
    if (!backend.usable) return NONE;
    const capacity = capacityOf(backend);
    if (first) {
      first = false;
      if (capacity === null) paceKnown = false;
      else need -= capacity;
      return { slots: backend.limit, rate: null };
    }
    if (need <= 0) return NONE;
    if (capacity === null || !paceKnown) {
      need = 0; // one request learns the pace before more is asked
      return { slots: 1, rate: null };
    }
    if (need >= capacity) {
      need -= capacity;
      return { slots: backend.limit, rate: null };
    }
    const rate = need;
    need = 0;
    return { slots: Math.min(backend.limit, Math.ceil((backend.limit * rate) / capacity)), rate };
  });
}

/** Items per second the backend finishes at its whole limit, or null while its latency is unknown. */
export function capacityOf(backend: BackendPace): number | null {
  if (backend.latencyMs === null || backend.latencyMs <= 0) return null;
  return backend.limit / (backend.latencyMs / 1000);
}
