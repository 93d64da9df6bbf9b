/**
 * Signal: the wake-up the Worker and Sweeper loops sleep on. A notify that arrives while the loop is busy
 * (not waiting) must not be lost, or the work it announces waits for the next period.
 */
import { describe, expect, it } from "vitest";
import { Signal } from "../../src/worker/signal.ts";

/** Lets every already-settled promise callback run. */
const settle = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

function track(promise: Promise<void>): { woke: () => boolean; done: Promise<void> } {
  let woke = false;
  const done = promise.then(() => {
    woke = true;
  });
  return { woke: () => woke, done };
}

describe("Signal", () => {
  it("keeps a notify that found nobody waiting, so the next wait returns at once", async () => {
    const signal = new Signal();
    signal.notify();
    const waiting = track(signal.wait(60_000));
    await settle();
    expect(waiting.woke()).toBe(true);
  });

  it("keeps one missed notify, not a count: the wait after it sleeps until the next notify", async () => {
    const signal = new Signal();
    signal.notify();
    signal.notify();
    await signal.wait(60_000);
    const waiting = track(signal.wait(60_000));
    await settle();
    expect(waiting.woke()).toBe(false);
    signal.notify();
    await waiting.done;
  });

  it("wakes every waiter and keeps nothing for a later wait", async () => {
    const signal = new Signal();
    const first = track(signal.wait(60_000));
    const second = track(signal.wait(60_000));
    signal.notify();
    await Promise.all([first.done, second.done]);
    const later = track(signal.wait(60_000));
    await settle();
    expect(later.woke()).toBe(false);
    signal.notify();
    await later.done;
  });

  it("resolves after the timeout when nobody notifies", async () => {
    const signal = new Signal();
    const started = Date.now();
    await signal.wait(20);
    expect(Date.now() - started).toBeGreaterThanOrEqual(15);
  });
});
