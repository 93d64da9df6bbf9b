/**
 * The capacity ledger on every Store backend, as two processes see it: each beat records which Models a
 * process wants and returns the live and wanting counts; stale rows (dead processes) and left processes stop
 * counting. src/worker/capacity-shares.ts turns the counts into shares.
 */
import { describe, expect, it } from "vitest";
import { CapacityShares } from "../../src/worker/capacity-shares.ts";
import { ManualClock } from "../../src/core/clock.ts";
import type { OpenAIModelConfig } from "../../src/config/config.ts";
import { storeBackends, useStores } from "../helpers/store-backends.ts";
import { T0 } from "./store-fixtures.ts";

const beat = (owner: string, wants: Record<string, boolean>, nowMs: number) => ({
  owner,
  demands: Object.entries(wants).map(([model, want]) => ({ model, wants: want })),
  nowMs,
  staleMs: 5_000,
});

describe.each(storeBackends)("$name store: capacity ledger", (backend) => {
  const stores = useStores(backend);

  it("counts live and wanting processes per Model, forgetting stale and departed ones", async () => {
    const [a, b] = await stores.openShared(2);
    expect(await a!.beatCapacity(beat("a", { m1: true, m2: false }, T0))).toEqual({ m1: { live: 1, wanting: 1 }, m2: { live: 1, wanting: 0 } });
    expect(await b!.beatCapacity(beat("b", { m1: true, m2: true }, T0 + 100))).toEqual({ m1: { live: 2, wanting: 2 }, m2: { live: 2, wanting: 1 } });
    // a stops beating: 5 s later its rows are stale and b is alone.
    expect(await b!.beatCapacity(beat("b", { m1: true, m2: false }, T0 + 5_200))).toEqual({ m1: { live: 1, wanting: 1 }, m2: { live: 1, wanting: 0 } });
    await a!.beatCapacity(beat("a", { m1: true, m2: false }, T0 + 5_300));
    await a!.leaveCapacity("a");
    expect(await b!.beatCapacity(beat("b", { m1: false, m2: false }, T0 + 5_400))).toEqual({ m1: { live: 1, wanting: 0 }, m2: { live: 1, wanting: 0 } });
  });

  it("splits a Model's concurrency among the processes that want it, and among all live ones when idle", async () => {
    const [storeA, storeB] = await stores.openShared(2);
    const clock = new ManualClock(T0);
    const model: OpenAIModelConfig = { name: "m", engine: "openai", baseUrl: "http://127.0.0.1:9/v1", concurrency: 30, timeoutMs: 1_000, maxRetries: 0 };
    const wants = { a: false, b: false };
    const changed: string[] = [];
    const shares = (owner: "a" | "b", ledger: typeof storeA) =>
      new CapacityShares({ ledger: ledger!, owner, models: [model], wants: () => wants[owner], onChange: (name) => changed.push(`${owner}:${name}`), clock });
    const a = shares("a", storeA);
    const b = shares("b", storeB);
    expect(a.ceiling(model)).toBe(30); // before any beat: the whole budget
    await a.beat();
    await b.beat();
    expect(b.ceiling(model)).toBe(15); // idle, two live processes
    wants.a = true;
    await a.beat();
    expect(a.ceiling(model)).toBe(30); // the only one with work takes it all
    wants.b = true;
    await b.beat();
    await a.beat();
    expect([a.ceiling(model), b.ceiling(model)]).toEqual([15, 15]);
    expect(changed).toContain("a:m");
    await b.stop();
    await a.beat();
    expect(a.ceiling(model)).toBe(30);
  });
});
