/** AbortWatchers: many waiters on one signal share one listener; each fires once, or never once it left. */
import { describe, expect, it, vi } from "vitest";
import { AbortWatchers } from "../../src/dispatch/abort-watchers.ts";

describe("AbortWatchers", () => {
  it("gives a signal one listener for 100 waiters, and calls each waiter once when it aborts", () => {
    const watchers = new AbortWatchers();
    const controller = new AbortController();
    const add = vi.spyOn(controller.signal, "addEventListener");
    const calls = Array(100).fill(0);
    for (let i = 0; i < 100; i += 1) watchers.watch(controller.signal, () => (calls[i] += 1));
    expect(add).toHaveBeenCalledTimes(1);
    expect(watchers.watchedSignals).toBe(1);
    controller.abort();
    controller.abort();
    expect(calls).toEqual(Array(100).fill(1));
    expect(watchers.watchedSignals).toBe(0);
  });

  it("does not call a waiter that left, and removes the listener when the last one leaves", () => {
    const watchers = new AbortWatchers();
    const controller = new AbortController();
    const remove = vi.spyOn(controller.signal, "removeEventListener");
    let left = 0;
    let stayed = 0;
    const unwatchLeaving = watchers.watch(controller.signal, () => (left += 1));
    const unwatchStaying = watchers.watch(controller.signal, () => (stayed += 1));
    unwatchLeaving();
    unwatchLeaving(); // a second call changes nothing
    expect(remove).not.toHaveBeenCalled();
    controller.abort();
    expect([left, stayed]).toEqual([0, 1]);
    unwatchStaying(); // after the abort: nothing left to remove

    const other = new AbortController();
    const removeOther = vi.spyOn(other.signal, "removeEventListener");
    const unwatch = [watchers.watch(other.signal, () => expect.fail("left before the abort")), watchers.watch(other.signal, () => expect.fail("left too"))];
    for (const each of unwatch) each();
    expect(removeOther).toHaveBeenCalledTimes(1);
    expect(watchers.watchedSignals).toBe(0);
    other.abort();
  });

  it("starts a fresh listener for a signal watched again after all its waiters left", () => {
    const watchers = new AbortWatchers();
    const controller = new AbortController();
    watchers.watch(controller.signal, () => expect.fail("left"))();
    let fired = 0;
    watchers.watch(controller.signal, () => (fired += 1));
    controller.abort();
    expect(fired).toBe(1);
  });
});
