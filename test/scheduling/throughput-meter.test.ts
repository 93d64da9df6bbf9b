/** The throughput meter (src/scheduling/throughput-meter.ts): Items per second of busy time, on the manual clock. */
import { describe, expect, it } from "vitest";
import { ManualClock } from "../../src/core/clock.ts";
import { ThroughputMeter } from "../../src/scheduling/throughput-meter.ts";

describe("throughput meter", () => {
  it("divides the Items finished by the time something was in flight, not by wall time", () => {
    const clock = new ManualClock();
    const meter = new ThroughputMeter();
    for (let round = 0; round < 5; round += 1) {
      meter.started(10, clock.now());
      clock.advance(500);
      meter.finished(10, clock.now());
      clock.advance(1_500); // idle: not counted
    }
    expect(meter.rate(clock.now())).toBeCloseTo(20, 9);
  });

  it("knows nothing before a quarter second of busy time, and forgets what is older than the window", () => {
    const clock = new ManualClock();
    const meter = new ThroughputMeter();
    meter.started(2, clock.now());
    clock.advance(100);
    meter.finished(2, clock.now());
    expect(meter.rate(clock.now())).toBeNull();
    meter.started(100, clock.now());
    clock.advance(1_000);
    meter.finished(100, clock.now());
    expect(meter.rate(clock.now())).toBeCloseTo(102 / 1.1, 9);
    clock.advance(25_000);
    expect(meter.rate(clock.now())).toBeNull();
  });

  it("counts a long request's busy time in each second it spans", () => {
    const clock = new ManualClock(Date.UTC(2026, 0, 1) + 300);
    const meter = new ThroughputMeter();
    meter.started(1, clock.now());
    clock.advance(4_000);
    meter.finished(1, clock.now());
    expect(meter.rate(clock.now())).toBeCloseTo(0.25, 9);
  });
});
