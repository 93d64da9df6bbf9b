/**
 * The capacity ledger on every Store backend, as several processes see it: a beat reads every live row and
 * writes this process's atomically, beats exclude each other (so no two processes sell the same free
 * slots), stale rows (dead processes) and departed processes stop counting. Then CapacityShares on top of
 * it: fair targets, slots handed over only once drained, nothing before the first beat, and the fallback
 * when the Store stops answering.
 */
import { describe, expect, it } from "vitest";
import { CapacityShares, fairTargets } from "../../src/worker/capacity-shares.ts";
import { ManualClock } from "../../src/core/clock.ts";
import type { OpenAIModelConfig } from "../../src/config/config.ts";
import type { CapacityClaim, CapacityRow } from "../../src/store/capacity-ledger.ts";
import type { Store } from "../../src/store/store.ts";
import { storeBackends, useStores } from "../helpers/store-backends.ts";
import { T0 } from "./store-fixtures.ts";
import { waitFor } from "../helpers/wait-for.ts";

const BUDGET = 30;

/** A beat that takes as many of `model`'s slots as are free, up to `want`, and reports what it saw. */
async function greedyBeat(store: Store, owner: string, want: number, nowMs: number): Promise<{ seen: CapacityRow[]; claim: CapacityClaim }> {
  let seen: CapacityRow[] = [];
  const [claim] = await store.beatCapacity({
    owner,
    nowMs,
    staleMs: 5_000,
    decide: (rows) => {
      seen = [...rows];
      const othersHeld = rows.filter((row) => row.owner !== owner && row.model === "m").reduce((sum, row) => sum + row.held, 0);
      return [{ model: "m", demand: want, held: Math.min(want, BUDGET - othersHeld) }];
    },
  });
  return { seen, claim: claim! };
}

const model: OpenAIModelConfig = { name: "m", engine: "openai", baseUrl: "http://127.0.0.1:9/v1", concurrency: BUDGET, timeoutMs: 1_000, maxRetries: 0 };

describe("fair targets", () => {
  it("gives small demands what they ask and splits the rest evenly, the same on every process", () => {
    expect([...fairTargets(30, [{ owner: "a", demand: 30 }, { owner: "b", demand: 30 }])]).toEqual([["a", 15], ["b", 15]]);
    expect(Object.fromEntries(fairTargets(30, [{ owner: "a", demand: 30 }, { owner: "b", demand: 4 }, { owner: "c", demand: 0 }]))).toEqual({ a: 26, b: 4, c: 0 });
    const three = fairTargets(32, [{ owner: "c", demand: 32 }, { owner: "a", demand: 32 }, { owner: "b", demand: 32 }]);
    expect([...three.values()].reduce((sum, value) => sum + value, 0)).toBe(32);
    expect(Object.fromEntries(three)).toEqual({ a: 10, b: 11, c: 11 });
  });
});

// A beat's `decide` is a function, which cannot reach the SQLite store's thread (threaded-store.ts says
// why that is fine; threaded-store.test.ts checks the refusal).
describe.each(storeBackends.filter((backend) => backend.name !== "sqlite-thread"))("$name store: capacity ledger", (backend) => {
  const stores = useStores(backend);

  it("shows each beat the live rows, forgetting stale and departed processes", async () => {
    const [a, b] = await stores.openShared(2);
    expect((await greedyBeat(a!, "a", 20, T0)).claim).toEqual({ model: "m", demand: 20, held: 20 });
    const second = await greedyBeat(b!, "b", 20, T0 + 100);
    expect(second.seen).toEqual([{ model: "m", owner: "a", demand: 20, held: 20 }]);
    expect(second.claim.held).toBe(10); // only what a left free
    // a stops beating: just over 5 s later its row is stale while b's is not, so b may take everything.
    const later = await greedyBeat(b!, "b", 30, T0 + 5_050);
    expect(later.seen.map((row) => row.owner)).toEqual(["b"]);
    expect(later.claim.held).toBe(30);
    await a!.leaveCapacity("b");
    expect((await greedyBeat(a!, "a", 30, T0 + 5_100)).claim.held).toBe(30);
  });

  it("never sells the same free slots to two processes beating at once", async () => {
    const shared = await stores.openShared(4);
    // Every process wants the whole budget and takes whatever is free; beats race from four connections.
    const rounds = Array.from({ length: 5 }, (_, round) =>
      Promise.all(shared.map((store, index) => greedyBeat(store, `p${index}`, BUDGET, T0 + round))),
    );
    for (const round of rounds) await round;
    const [{ seen }] = await Promise.all([greedyBeat(shared[0]!, "observer", 0, T0 + 10)]);
    const held = seen.filter((row) => row.owner !== "observer").reduce((sum, row) => sum + row.held, 0);
    expect(held).toBeLessThanOrEqual(BUDGET);
    expect(held).toBeGreaterThan(0);
  });

  it("hands a Model's slots to a second process only after the first has given them back and drained", async () => {
    const [storeA, storeB] = await stores.openShared(2);
    const clock = new ManualClock(T0);
    const load = { a: { running: 0, waiting: 0 }, b: { running: 0, waiting: 0 } };
    const shares = (owner: "a" | "b", ledger: Store) =>
      new CapacityShares({ ledger, owner, models: [model], load: () => load[owner], onChange: () => undefined, clock });
    const a = shares("a", storeA!);
    const b = shares("b", storeB!);
    /** What may run at once anywhere: a process's ceiling, or more while it drains. */
    const inUse = () => Math.max(a.ceiling(model), load.a.running) + Math.max(b.ceiling(model), load.b.running);

    expect(a.ceiling(model)).toBe(0); // nothing before the first beat
    load.a = { running: 0, waiting: 100 };
    await a.beat();
    expect(a.ceiling(model)).toBe(BUDGET); // alone with work: everything
    load.a = { running: 0, waiting: 0 };
    await a.beat();
    expect(a.ceiling(model)).toBe(BUDGET); // idle, but nobody else is owed any: kept
    load.a = { running: BUDGET, waiting: 70 };

    load.b = { running: 0, waiting: 100 };
    await b.beat();
    expect(b.ceiling(model)).toBe(0); // a holds every slot
    await a.beat();
    expect(a.ceiling(model)).toBe(15); // a gives back half...
    await b.beat();
    expect(b.ceiling(model)).toBe(0); // ...but 30 of its requests still run, so nothing is free yet
    expect(inUse()).toBeLessThanOrEqual(BUDGET);
    load.a = { running: 15, waiting: 70 }; // drained to its new ceiling
    await a.beat();
    await b.beat();
    expect([a.ceiling(model), b.ceiling(model)]).toEqual([15, 15]);
    expect(inUse()).toBeLessThanOrEqual(BUDGET);

    await b.stop();
    await a.beat();
    expect(a.ceiling(model)).toBe(BUDGET);
  });

  it("beats again after a beat under way when a request nudges it meanwhile, so the request does not wait for the next tick", async () => {
    const [store] = await stores.openShared(1);
    const load = { running: 0, waiting: 0 };
    // A copy per read, as the Dispatcher's load() gives: a beat sees the load of the moment it read it.
    const shares = new CapacityShares({ ledger: store!, owner: "a", models: [model], load: () => ({ ...load }), onChange: () => undefined, clock: new ManualClock(T0), beatMs: 60_000 });
    shares.start(); // its first beat is under way and has read an idle load
    load.waiting = 1;
    shares.nudge();
    try {
      await waitFor(() => shares.ceiling(model) === 1, { what: "a beat that sees the waiting request (a slot for it)", timeoutMs: 5_000 });
    } finally {
      await shares.stop();
    }
  });

  /** Two processes on one ledger, each capped at `cap` of the Model's BUDGET, both with 100 requests waiting. */
  async function twoCapped(cap: number) {
    const [storeA, storeB] = await stores.openShared(2);
    const clock = new ManualClock(T0);
    const capped: OpenAIModelConfig = { ...model, processConcurrency: cap };
    const load = { a: { running: 0, waiting: 100 }, b: { running: 0, waiting: 100 } };
    const shares = (owner: "a" | "b", ledger: Store) =>
      new CapacityShares({ ledger, owner, models: [capped], load: () => load[owner], onChange: () => undefined, clock });
    return { capped, load, a: shares("a", storeA!), b: shares("b", storeB!) };
  }

  it("holds no more than a process's processConcurrency, leaving the rest of the budget to the other processes", async () => {
    const { capped, load, a, b } = await twoCapped(12);
    await a.beat();
    expect(a.ceiling(capped)).toBe(12); // alone with 100 waiting: its cap, not the whole budget
    await b.beat();
    expect(b.ceiling(capped)).toBe(12); // the second process adds its own 12
    load.a = { running: 12, waiting: 88 };
    load.b = { running: 12, waiting: 88 };
    await a.beat();
    await b.beat();
    expect([a.ceiling(capped), b.ceiling(capped)]).toEqual([12, 12]);
  });

  it("still keeps processes capped above half the budget within the budget together", async () => {
    const { capped, load, a, b } = await twoCapped(20);
    await a.beat();
    expect(a.ceiling(capped)).toBe(20);
    load.a = { running: 20, waiting: 80 };
    await b.beat();
    expect(b.ceiling(capped)).toBe(BUDGET - 20); // what a does not hold, below b's cap and its fair 15
    await a.beat();
    expect(a.ceiling(capped)).toBe(15); // b is owed its fair share: a gives back to 15
    load.a = { running: 15, waiting: 85 };
    await a.beat();
    await b.beat();
    expect([a.ceiling(capped), b.ceiling(capped)]).toEqual([15, 15]);
  });

  it("falls back to an even split when the Store stops answering for long enough", async () => {
    const [storeA, storeB] = await stores.openShared(2);
    const clock = new ManualClock(T0);
    const busy = { running: 0, waiting: 50 };
    const a = new CapacityShares({ ledger: storeA!, owner: "a", models: [model], load: () => busy, onChange: () => undefined, clock, beatMs: 1_000 });
    const b = new CapacityShares({ ledger: storeB!, owner: "b", models: [model], load: () => ({ running: 0, waiting: 0 }), onChange: () => undefined, clock, beatMs: 1_000 });
    await b.beat();
    await a.beat();
    expect(a.ceiling(model)).toBe(BUDGET);
    // The database refuses every write of the ledger from now on (a real error, from a trigger).
    await backend.failUpdates(storeA!, "capacity_shares");
    clock.advance(1_000);
    await a.beat();
    expect(a.ceiling(model)).toBe(BUDGET); // a short outage keeps the slots
    clock.advance(2_000);
    await a.beat();
    expect(a.ceiling(model)).toBe(BUDGET / 2); // the others may have forgotten a's row: two processes, half each
  });
});
