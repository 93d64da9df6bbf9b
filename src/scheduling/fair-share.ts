/**
 * The share policy: how one Model's capacity is split across the Batches queued on it (issue 12). Pure: the
 * Worker lane applies it to decide which Batches its next claim takes Items from (claim-planner.ts), and the
 * forecast (forecast.ts) applies the same function to simulate the queue and tell each Batch its ETA, so the
 * estimate is of what the scheduler will actually do.
 *
 * Three rules, in this order:
 * 1. **Batch hours** (off-peak windows). Outside the Model's `batchHours` a Batch is held until the window
 *    opens, unless waiting would make it miss its deadline: taking the Batches in deadline order, Batch k
 *    may wait while the window time left before its deadline, at the measured capacity, covers the work of
 *    k and of every Batch due before it (with a 25% margin). Without a measured capacity spool cannot
 *    tell, and holds a Batch unless no window time at all is left before its deadline.
 * 2. **Deadlines (EDF)**. A part of the capacity is reserved for deadlines: the smallest part that, given
 *    to the queued Batches in deadline order, finishes each by its deadline (the EDF demand bound: the most,
 *    over Batches k, of the work due by k's deadline over the time left to it), plus the margin. All of it
 *    goes to the earliest deadline, then, as that one finishes, to the next: earliest deadline first. When
 *    capacity is plentiful the reservation is tiny (10k Items due in 24 h need 0.12/s) and rule 3 decides;
 *    when it is short, the reservation grows until deadlines take the whole Model. A Batch that could not
 *    make its deadline even with the whole Model is left out of the bound: it is late anyway, and counting
 *    it would only make the Batches due after it late too (EDF's domino effect under overload).
 * 3. **Fair share by priority, shortest first.** Half of what is not reserved is split in proportion to
 *    weights: each step of priority doubles a Batch's weight relative to the highest priority queued, down
 *    to 1/1024 of it, so higher priority runs first. The other half goes to the Batch first in line: of the
 *    highest weight, the one with the least work left. A 10-Item Batch behind a 200k-Item one of the same
 *    priority thus gets three quarters of the claims until it is done.
 *    Why not equal shares alone: Batches of equal size would all finish together at the end (processor
 *    sharing doubles their mean completion time against one after the other), and the Workers would then
 *    wait while the next ones validate; shortest-first staggers them.
 *    The weighted half moves at most WEIGHTED_BATCHES of a tenant's Batches at a time: the first in
 *    (priority, then age) order, and the tenant's oldest Batch, so every Batch moves in its turn (each
 *    becomes the oldest) and none waits behind a stream of shorter or higher-priority ones for ever. Split
 *    among all of them, with hundreds of Batches queued, it was processor sharing again: each got a sliver,
 *    all of them finished late, and every claim and completion write touched dozens of Batches (1,000
 *    Batches of 100 Items ran at 0.57x the Items/s of one Batch of 100k; issue 11).
 *
 * **Tenants** (issue 13, decision 0021) come between rules 2 and 3: what is not reserved is split equally
 * among the tenants with Batches running, and rule 3 then splits each tenant's part among its own Batches. A
 * tenant with 50 Batches queued thus gets what a tenant with one gets, and priorities order a tenant's own
 * Batches, never another's. With one tenant (every Batch of a deployment without tenants) it is rule 3 alone.
 * Deadlines (rule 2) still come first whoever owns them: a reservation is what a deadline needs, not a share.
 */
import type { BatchHours } from "../core/batch-hours.ts";

/** One Batch with Items queued on a Model, as the scheduler sees it. */
export interface QueueEntry {
  /** The Batch's seq: FIFO order, and the key its Items are claimed by. */
  seq: number;
  /** Its owner; Batches without one share one anonymous tenant. */
  tenant?: string;
  priority: number;
  /** When its completion window closes: its deadline. */
  expiresAtMs: number;
  /** Items without a result yet (pending or running). */
  remaining: number;
}

export interface ScheduleContext {
  nowMs: number;
  /** Items per second the Model finishes while busy, all processes together; null until measured. */
  capacity: number | null;
  /** The Model's batch hours, or null when Batch traffic may run at any time. */
  hours: BatchHours | null;
}

/** What one Batch gets now. */
export interface Share {
  seq: number;
  /** Part of the Model's capacity, 0..1 (0 while held); the fractions of all Batches add up to 1 or 0. */
  fraction: number;
  /** The part of `fraction` reserved for deadlines (rule 2): only the earliest deadline has one. */
  reserved: number;
  /** Held for the batch hours until this time (rule 1); null when it runs now. */
  heldUntilMs: number | null;
}

/** Batches considered per Model: the oldest this many with queued Items (the rest wait for a later read). */
export const MAX_QUEUED_BATCHES = 1_000;

/** Reserve and judge "can wait" with this much room: estimates of capacity are only estimates. */
export const DEADLINE_MARGIN = 1.25;
/** `deadlineDemand` plans to finish this many seconds before a deadline. */
const FINISH_EARLY_S = 1;
/** The part of the unreserved capacity that goes to the Batch first in line (rule 3). */
const FIRST_IN_LINE_SHARE = 0.5;
/** Most Batches of one tenant the weighted half moves at once (rule 3), besides the tenant's oldest. */
export const WEIGHTED_BATCHES = 4;
/** The lowest weight relative to the highest priority queued: 2^-10, about 0.1%. */
const MIN_WEIGHT_EXPONENT = -10;

/**
 * The shares of `batches`, in claim order: Batches whose deadline drives their share first (earliest
 * deadline first), then the rest with the least work left first (short Batches finish sooner, and a round
 * of claims takes their Items before a long Batch's), then the held ones.
 */
export function planShares(batches: readonly QueueEntry[], context: ScheduleContext): Share[] {
  const byDeadline = [...batches].sort((a, b) => a.expiresAtMs - b.expiresAtMs || a.seq - b.seq);
  const held = heldUntil(byDeadline, context);
  const running = byDeadline.filter((batch) => !held.has(batch.seq));
  const reserved = reservations(running, context);
  let unreserved = 1;
  for (const part of reserved.values()) unreserved -= part;
  unreserved = Math.max(0, unreserved);
  const fairParts = new Map<number, number>();
  const tenants = groupByTenant(running);
  for (const own of tenants.values()) splitByPriority(own, unreserved / tenants.size, fairParts);
  const shares = running.map((batch): Share & { driven: boolean; remaining: number; expiresAtMs: number } => {
    const fair = fairParts.get(batch.seq) ?? 0;
    const part = reserved.get(batch.seq) ?? 0;
    return { seq: batch.seq, fraction: part + fair, reserved: part, heldUntilMs: null, driven: part > fair, remaining: batch.remaining, expiresAtMs: batch.expiresAtMs };
  });
  shares.sort((a, b) => {
    if (a.driven !== b.driven) return a.driven ? -1 : 1;
    return a.driven ? a.expiresAtMs - b.expiresAtMs || a.seq - b.seq : a.remaining - b.remaining || a.seq - b.seq;
  });
  const waiting = byDeadline.filter((batch) => held.has(batch.seq)).map((batch): Share => ({ seq: batch.seq, fraction: 0, reserved: 0, heldUntilMs: held.get(batch.seq) ?? null }));
  return [...shares.map(({ seq, fraction, reserved: part, heldUntilMs }) => ({ seq, fraction, reserved: part, heldUntilMs })), ...waiting];
}

function groupByTenant(batches: readonly QueueEntry[]): Map<string, QueueEntry[]> {
  const groups = new Map<string, QueueEntry[]>();
  for (const batch of batches) {
    const key = batch.tenant ?? "";
    const group = groups.get(key);
    if (group === undefined) groups.set(key, [batch]);
    else group.push(batch);
  }
  return groups;
}

/**
 * Rule 3 over `batches` (one tenant's): `capacity` split by priority weight among the Batches the weighted
 * half moves now, half to the first in line; each Batch's part is set in `parts`. Loops, not spreads and
 * sorts: the forecast plans the shares once per simulated Batch finish, so with 1,000 Batches queued a
 * progress read runs this about 1,000 times.
 */
function splitByPriority(batches: readonly QueueEntry[], capacity: number, parts: Map<number, number>): void {
  let top = -Infinity;
  for (const batch of batches) if (batch.priority > top) top = batch.priority;
  const moving = weightedBatches(batches);
  let totalWeight = 0;
  for (const batch of moving) totalWeight += priorityWeight(batch.priority, top);
  const first = firstInLine(batches, top);
  for (const batch of batches) {
    const weighted = moving.has(batch) ? (capacity * (1 - FIRST_IN_LINE_SHARE) * priorityWeight(batch.priority, top)) / totalWeight : 0;
    parts.set(batch.seq, weighted + (batch.seq === first ? capacity * FIRST_IN_LINE_SHARE : 0));
  }
}

/** The Batches the weighted half moves: the first WEIGHTED_BATCHES by priority then age, and the oldest. */
function weightedBatches(batches: readonly QueueEntry[]): Set<QueueEntry> {
  if (batches.length <= WEIGHTED_BATCHES) return new Set(batches);
  // The first few by (priority descending, seq ascending), kept in order as the Batches are scanned once.
  const ahead = (a: QueueEntry, b: QueueEntry): boolean => a.priority > b.priority || (a.priority === b.priority && a.seq < b.seq);
  const firsts: QueueEntry[] = [];
  let oldest = batches[0] as QueueEntry;
  for (const batch of batches) {
    if (batch.seq < oldest.seq) oldest = batch;
    if (firsts.length === WEIGHTED_BATCHES && !ahead(batch, firsts[WEIGHTED_BATCHES - 1] as QueueEntry)) continue;
    let at = firsts.length;
    while (at > 0 && ahead(batch, firsts[at - 1] as QueueEntry)) at -= 1;
    firsts.splice(at, 0, batch);
    if (firsts.length > WEIGHTED_BATCHES) firsts.pop();
  }
  return new Set([...firsts, oldest]);
}

/** Of the Batches of the highest priority, the one with the least work left (the oldest of equals). */
function firstInLine(running: readonly QueueEntry[], top: number): number | null {
  let first: QueueEntry | null = null;
  for (const batch of running) {
    if (batch.priority !== top) continue;
    if (first === null || batch.remaining < first.remaining || (batch.remaining === first.remaining && batch.seq < first.seq)) first = batch;
  }
  return first?.seq ?? null;
}

/** Weight of a Batch of `priority` when the highest priority queued is `top` (rule 3). */
export function priorityWeight(priority: number, top: number): number {
  return 2 ** Math.max(MIN_WEIGHT_EXPONENT, Math.min(0, priority - top));
}

/** Rule 1: Batches that wait for the batch hours, with the time they open. */
function heldUntil(byDeadline: readonly QueueEntry[], { nowMs, capacity, hours }: ScheduleContext): Map<number, number> {
  const held = new Map<number, number>();
  if (hours === null || hours.isOpen(nowMs)) return held;
  const opensAtMs = hours.nextOpenMs(nowMs);
  let workAhead = 0;
  for (const batch of byDeadline) {
    workAhead += batch.remaining;
    const windowMs = hours.openMsBetween(nowMs, batch.expiresAtMs);
    const canWait = capacity !== null && capacity > 0 ? (windowMs / 1000) * capacity >= workAhead * DEADLINE_MARGIN : windowMs > 0;
    if (canWait) held.set(batch.seq, opensAtMs);
  }
  return held;
}

/**
 * Rule 2: the reservation, all of it for the earliest deadline. `need` is the EDF demand bound: the most,
 * over the Batches in deadline order, of (work due by its deadline) / (time to it) / capacity.
 */
function reservations(byDeadline: readonly QueueEntry[], { nowMs, capacity }: ScheduleContext): Map<number, number> {
  const reserved = new Map<number, number>();
  if (capacity === null || capacity <= 0) return reserved;
  let work = 0;
  let need = 0;
  let first: number | null = null;
  for (const batch of byDeadline) {
    const secondsLeft = (batch.expiresAtMs - nowMs) / 1000;
    // Past its deadline the Sweeper expires what is left; reserving would only take from the others.
    if (secondsLeft <= 0 || batch.remaining <= 0) continue;
    const demand = (work + batch.remaining) / secondsLeft / capacity;
    if (demand > 1) continue;
    work += batch.remaining;
    need = Math.max(need, demand);
    first ??= batch.seq;
  }
  if (first !== null && need > 0) reserved.set(first, Math.min(1, need * DEADLINE_MARGIN));
  return reserved;
}

/**
 * Items per second the Model must finish from now for every Batch in `batches` to meet its deadline: the
 * EDF demand bound, the most, over the Batches in deadline order, of the work due by a deadline over the
 * time left to it. Unlike the reservation (rule 2) a Batch that cannot make it still counts: this is what
 * a Model with several backends spills onto dearer ones for (decision 0022), and a late Batch wants all of
 * them. 0 when nothing is queued.
 */
export function deadlineDemand(batches: readonly QueueEntry[], nowMs: number): number {
  let work = 0;
  let need = 0;
  for (const batch of [...batches].sort((a, b) => a.expiresAtMs - b.expiresAtMs)) {
    if (batch.remaining <= 0) continue;
    const msLeft = batch.expiresAtMs - nowMs;
    // Past its deadline the Sweeper expires what is left: no rate finishes it in time.
    if (msLeft <= 0) continue;
    // Aim a little before it: the demand is re-read once per poll, and results take a moment to record.
    const secondsLeft = Math.max(0.1, msLeft / 1000 - FINISH_EARLY_S);
    work += batch.remaining;
    need = Math.max(need, work / secondsLeft);
  }
  return need;
}
