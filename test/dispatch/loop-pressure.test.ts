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
