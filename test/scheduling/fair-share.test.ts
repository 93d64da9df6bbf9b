/**
 * The share policy (src/scheduling/fair-share.ts): fair shares by priority, deadline reservations in EDF
 * order, and holding Batches for a Model's batch hours unless waiting would miss their deadline.
 */
import { describe, expect, it } from "vitest";
import { BatchHours } from "../../src/core/batch-hours.ts";
import { DEADLINE_MARGIN, deadlineDemand, planShares, WEIGHTED_BATCHES, type QueueEntry, type ScheduleContext } from "../../src/scheduling/fair-share.ts";

const NOW = Date.UTC(2026, 0, 5, 12);
const HOUR = 3_600_000;
const batch = (seq: number, remaining: number, options: { priority?: number; dueInMs?: number } = {}): QueueEntry => ({
  seq,
  remaining,
  priority: options.priority ?? 0,
  expiresAtMs: NOW + (options.dueInMs ?? 24 * HOUR),
});
const context = (overrides: Partial<ScheduleContext> = {}): ScheduleContext => ({ nowMs: NOW, capacity: null, hours: null, ...overrides });
const fractions = (shares: ReturnType<typeof planShares>): Record<number, number> => Object.fromEntries(shares.map((share) => [share.seq, share.fraction]));

describe("fair share", () => {
  it("splits a Model equally among tenants before splitting each tenant's part among its batches", () => {
    const owned = (seq: number, remaining: number, tenant: string, priority = 0): QueueEntry => ({ ...batch(seq, remaining, { priority }), tenant });
    // Tenant a queued three batches, b one: b still gets half the Model.
    const shares = fractions(planShares([owned(1, 100, "a"), owned(2, 100, "a"), owned(3, 100, "a"), owned(4, 100, "b")], context()));
    expect(shares[4]).toBeCloseTo(0.5, 12);
    expect(shares[1]! + shares[2]! + shares[3]!).toBeCloseTo(0.5, 12);
    // Within a: rule 3 on its half (first in line a quarter, then the weighted quarter split three ways).
    expect(shares[1]).toBeCloseTo(0.25 + 0.25 / 3, 12);
    // A high priority orders a tenant's own batches, never another tenant's.
    const prioritized = fractions(planShares([owned(1, 100, "a", 10), owned(2, 100, "b")], context()));
    expect(prioritized).toEqual({ 1: 0.5, 2: 0.5 });
    // One tenant: exactly rule 3 alone.
    expect(fractions(planShares([owned(1, 200_000, "a"), owned(2, 10, "a")], context()))).toEqual({ 1: 0.25, 2: 0.75 });
  });

  it("gives the batch with least work left three quarters, the other the weighted half of the rest", () => {
    const shares = planShares([batch(1, 200_000), batch(2, 10)], context());
    expect(shares.map((share) => share.seq)).toEqual([2, 1]);
    expect(fractions(shares)).toEqual({ 1: 0.25, 2: 0.75 });
    expect(shares.every((share) => share.reserved === 0 && share.heldUntilMs === null)).toBe(true);
    // Equal work: the oldest is first in line, so equal batches finish one after the other, not all at the end.
    expect(fractions(planShares([batch(1, 100), batch(2, 100), batch(3, 100), batch(4, 100)], context()))).toEqual({ 1: 0.625, 2: 0.125, 3: 0.125, 4: 0.125 });
  });

  it("moves a few of a tenant's batches with the weighted half, first by priority then age, and always its oldest", () => {
    // Ten equal batches: the four oldest share the weighted half, the rest wait their turn (no processor sharing).
    const equal = fractions(planShares(Array.from({ length: 10 }, (_, i) => batch(i + 1, 100)), context()));
    expect(equal).toEqual({ 1: 0.625, 2: 0.125, 3: 0.125, 4: 0.125, 5: 0, 6: 0, 7: 0, 8: 0, 9: 0, 10: 0 });
    expect(WEIGHTED_BATCHES).toBe(4);
    // Newer, higher-priority batches come first, but the oldest keeps moving at its weight (it is never starved).
    const mixed = fractions(planShares([batch(1, 100), batch(2, 100), ...[3, 4, 5, 6, 7].map((seq) => batch(seq, 50 + seq, { priority: 1 }))], context()));
    const total = 4 + 0.5;
    expect(mixed[1]).toBeCloseTo((0.5 * 0.5) / total, 12);
    expect(mixed[3]).toBeCloseTo(0.5 + 0.5 / total, 12);
    for (const seq of [4, 5, 6]) expect(mixed[seq]).toBeCloseTo(0.5 / total, 12);
    expect([mixed[2], mixed[7]]).toEqual([0, 0]);
    // Each tenant moves its own few: a tenant's many batches never take another's turn.
    const owned = (seq: number, tenant: string): QueueEntry => ({ ...batch(seq, 100), tenant });
    const tenants = fractions(planShares([...Array.from({ length: 8 }, (_, i) => owned(i + 1, "a")), owned(9, "b")], context()));
    expect(tenants[9]).toBeCloseTo(0.5, 12);
    expect(Object.values(tenants).filter((fraction) => fraction > 0)).toHaveLength(5);
  });

  it("doubles the weight per step of priority, relative to the highest queued, never below 1/1024; first in line is of the highest", () => {
    const shares = fractions(planShares([batch(1, 100, { priority: 5 }), batch(2, 10, { priority: 4 }), batch(3, 100, { priority: 2 }), batch(4, 100, { priority: -90 })], context()));
    const total = 1 + 0.5 + 0.125 + 1 / 1024;
    expect(shares[1]).toBeCloseTo(0.5 + 0.5 / total, 12);
    expect(shares[2]).toBeCloseTo((0.5 * 0.5) / total, 12);
    expect(shares[3]).toBeCloseTo((0.5 * 0.125) / total, 12);
    expect(shares[4]).toBeCloseTo((0.5 / 1024) / total, 12);
    // Only differences count: 100 vs 99 is 99 vs 98.
    expect(fractions(planShares([batch(1, 5, { priority: 100 }), batch(2, 5, { priority: 99 })], context()))[1]).toBeCloseTo(0.5 + 0.5 * (2 / 3), 12);
  });

  it("reserves the EDF demand bound, with the margin, for the earliest deadline before sharing the rest", () => {
    // Due in 1 h: 1,800 Items (0.05 of 10/s). Due in 24 h: 100,000 more, so 101,800 by then: 0.1178 of it.
    const shares = planShares([batch(1, 100_000, { priority: 3 }), batch(2, 1_800, { dueInMs: HOUR })], context({ capacity: 10 }));
    const reserved = (101_800 / 86_400 / 10) * DEADLINE_MARGIN;
    const rest = 1 - reserved;
    const urgent = shares.find((share) => share.seq === 2);
    expect(urgent?.reserved).toBeCloseTo(reserved, 12);
    expect(urgent?.fraction).toBeCloseTo(reserved + (rest * 0.5) / 9, 12);
    // The higher priority is first in line, whatever its size.
    expect(shares.find((share) => share.seq === 1)).toMatchObject({ reserved: 0 });
    expect(shares.find((share) => share.seq === 1)?.fraction).toBeCloseTo(rest * 0.5 + (rest * 0.5 * 8) / 9, 12);
    expect(shares.map((share) => share.seq)).toEqual([2, 1]);
  });

  it("sizes the reservation by every deadline when capacity is short, leaving out a batch that cannot make it", () => {
    const shares = planShares(
      [
        batch(1, 7_200, { dueInMs: 2 * HOUR }), // 3,600 + 7,200 due in 2 h at 2/s: 0.75
        batch(2, 3_600, { dueInMs: HOUR }), // 3,600 due in 1 h: 0.5
        batch(3, 72_000, { dueInMs: 3 * HOUR }), // would need 3.8 times the Model
        batch(4, 10, { dueInMs: -1 }), // past its deadline: expiry is due
      ],
      context({ capacity: 2 }),
    );
    const bySeq = new Map(shares.map((share) => [share.seq, share]));
    expect(bySeq.get(2)?.reserved).toBeCloseTo(0.75 * DEADLINE_MARGIN, 12);
    for (const seq of [1, 3, 4]) expect(bySeq.get(seq)?.reserved).toBe(0);
    expect(shares[0]?.seq).toBe(2);
    expect(shares.reduce((sum, share) => sum + share.fraction, 0)).toBeCloseTo(1, 12);
  });

  it("gives the whole Model to deadlines when they need it", () => {
    const shares = fractions(planShares([batch(1, 3_000, { dueInMs: HOUR }), batch(2, 50, { priority: 9 })], context({ capacity: 1 })));
    expect(shares).toEqual({ 1: 1, 2: 0 });
  });

  it("reserves nothing while the Model's capacity is unknown", () => {
    const shares = planShares([batch(1, 3_600, { dueInMs: 60_000 }), batch(2, 10)], context());
    expect(fractions(shares)).toEqual({ 1: 0.25, 2: 0.75 });
  });
});

describe("batch hours", () => {
  const hours = BatchHours.parse("16:30-00:30 UTC");

  it("holds batches until the window opens when the window before their deadline is long enough", () => {
    const opens = Date.UTC(2026, 0, 5, 16, 30);
    const shares = planShares([batch(1, 1_000), batch(2, 50)], context({ capacity: 10, hours }));
    expect(shares.map((share) => [share.seq, share.fraction, share.heldUntilMs])).toEqual([
      [1, 0, opens],
      [2, 0, opens],
    ]);
  });

  it("runs a batch at once when waiting for the window would miss its deadline, and only that one", () => {
    // Due 17:00: 30 min of window at 10/s is 18,000 Items, short of 20,000 * 1.25.
    const shares = planShares([batch(1, 20_000, { dueInMs: 5 * HOUR }), batch(2, 100)], context({ capacity: 10, hours }));
    expect(shares.map((share) => [share.seq, share.fraction, share.heldUntilMs === null])).toEqual([
      [1, 1, true],
      [2, 0, false],
    ]);
  });

  it("counts the work due earlier: a later batch runs now when both would not fit in the window", () => {
    const shares = fractions(planShares([batch(1, 90_000, { dueInMs: 6 * HOUR }), batch(2, 90_000, { dueInMs: 7 * HOUR })], context({ capacity: 40, hours })));
    // Window before 18:00 at 40/s: 216,000 Items >= 90,000 * 1.25; before 19:00: 360,000 >= 180,000 * 1.25.
    expect(shares).toEqual({ 1: 0, 2: 0 });
    const tight = fractions(planShares([batch(1, 90_000, { dueInMs: 6 * HOUR }), batch(2, 90_000, { dueInMs: 6 * HOUR + 60_000 })], context({ capacity: 40, hours })));
    // Due 18:01 instead: 1 h 31 min of window holds 218,400 Items, short of both Batches' 180,000 * 1.25.
    expect(tight).toEqual({ 1: 0, 2: 1 });
  });

  it("holds without a measured capacity unless no window time at all is left before the deadline", () => {
    const shares = planShares([batch(1, 1_000_000, { dueInMs: 5 * HOUR }), batch(2, 10, { dueInMs: 4 * HOUR })], context({ hours }));
    expect(shares.map((share) => [share.seq, share.fraction])).toEqual([
      [2, 1],
      [1, 0],
    ]);
  });

  it("holds nobody while the window is open", () => {
    const shares = planShares([batch(1, 1_000), batch(2, 50)], context({ nowMs: Date.UTC(2026, 0, 5, 23), hours }));
    expect(fractions(shares)).toEqual({ 1: 0.25, 2: 0.75 });
  });
});

describe("deadline demand (for spilling onto dearer backends)", () => {
  const now = 1_000_000;
  it("is the most, over Batches in deadline order, of the work due by a deadline over the time to it (aiming a second early)", () => {
    const batches = [
      { seq: 1, priority: 0, expiresAtMs: now + 101_000, remaining: 1_000 },
      { seq: 2, priority: 0, expiresAtMs: now + 11_000, remaining: 200 },
    ];
    // Batch 2 alone: 200 in 10 s = 20/s; both by batch 1's deadline: 1,200 in 100 s = 12/s.
    expect(deadlineDemand(batches, now)).toBeCloseTo(20, 9);
    expect(deadlineDemand([batches[0]!], now)).toBeCloseTo(10, 9);
  });

  it("leaves out Batches past their deadline and Batches with nothing left, and is 0 for an empty queue", () => {
    expect(deadlineDemand([], now)).toBe(0);
    expect(deadlineDemand([{ seq: 1, priority: 0, expiresAtMs: now - 1, remaining: 50 }, { seq: 2, priority: 0, expiresAtMs: now + 5_000, remaining: 0 }], now)).toBe(0);
  });
});
