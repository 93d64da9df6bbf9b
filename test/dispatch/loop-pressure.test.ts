/**
 * LoopPressure: the event loop's delay as the factor Batch requests' sync-first share is scaled by
 * (loop-pressure.ts). The AIMD rule on given readings, then the real histogram on a loop this test blocks.
 */
import { afterEach, describe, expect, it } from "vitest";
import { LOOP_PRESSURE_DEFAULTS, LoopPressure } from "../../src/dispatch/loop-pressure.ts";
import { waitFor } from "../helpers/wait-for.ts";

const opened: LoopPressure[] = [];
afterEach(() => {
  for (const pressure of opened.splice(0)) pressure.close();
});

function pressure(settings = LOOP_PRESSURE_DEFAULTS): LoopPressure {
  const made = new LoopPressure(settings);
  opened.push(made);
  return made;
}

describe("LoopPressure", () => {
  it("halves the factor for each period over the target, down to the floor, and grows it back by steps to 1", () => {
    // A period long enough that only the test's readings count.
    const loop = pressure({ ...LOOP_PRESSURE_DEFAULTS, everyMs: 3_600_000 });
    expect(loop.factor).toBe(1);
    loop.observe(2.5);
    expect(loop.factor).toBe(0.5);
    loop.observe(2);
    expect(loop.factor).toBe(0.625);
    for (let i = 0; i < 20; i += 1) loop.observe(50);
    expect(loop.factor).toBe(LOOP_PRESSURE_DEFAULTS.minFactor);
    for (let i = 0; i < 20; i += 1) loop.observe(0.1);
    expect(loop.factor).toBe(1);
  });

  it("sees a blocked event loop by itself, and lets go once the loop is free", async () => {
    // A target far above what a busy test machine's free loop shows, far below the 60 ms blocks.
    const loop = pressure({ ...LOOP_PRESSURE_DEFAULTS, targetMs: 25 });
    const block = (ms: number): void => {
      const until = performance.now() + ms;
      while (performance.now() < until);
    };
    await waitFor(
      async () => {
        for (let i = 0; i < 5; i += 1) {
          block(60);
          await new Promise((resolve) => setImmediate(resolve));
        }
        return loop.factor < 1;
      },
      { what: "the factor to fall while the loop is blocked 60 ms at a time", timeoutMs: 10_000 },
    );
    await waitFor(() => loop.factor === 1, { what: "the factor to come back to 1 on a free loop", timeoutMs: 10_000 });
  });
});

describe("LoopPressure while nobody asks", () => {
  it("measures only from the first ask of the factor until idleAfterMs without one, keeping the factor it had", async () => {
    // No step and an unreachable target: the timer's own periods leave the factor where the test put it.
    const loop = pressure({ ...LOOP_PRESSURE_DEFAULTS, everyMs: 20, idleAfterMs: 150, step: 0, targetMs: 1e9 });
    expect(loop.watching).toBe(false);
    loop.observe(2e9);
    expect(loop.factor).toBe(0.5);
    expect(loop.watching).toBe(true);
    await waitFor(() => !loop.watching, { what: "measuring to stop without asks", timeoutMs: 5_000 });
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(loop.watching).toBe(false);
    expect(loop.factor).toBe(0.5);
    expect(loop.watching).toBe(true);
  });

  it("keeps measuring while asked more often than idleAfterMs", async () => {
    const loop = pressure({ ...LOOP_PRESSURE_DEFAULTS, everyMs: 20, idleAfterMs: 150 });
    const until = performance.now() + 600;
    while (performance.now() < until) {
      void loop.factor;
      expect(loop.watching).toBe(true);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  });
});
