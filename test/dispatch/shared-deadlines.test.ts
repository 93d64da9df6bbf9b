import { getEventListeners } from "node:events";
import { describe, expect, it } from "vitest";
import type { ModelConfig } from "../../src/config/config.ts";
import { EngineError } from "../../src/core/engine.ts";
import { SharedDeadlines } from "../../src/dispatch/shared-deadlines.ts";

const model = (timeoutMs: number): ModelConfig => ({ name: "m", timeoutMs }) as ModelConfig;
const deadlines = (): SharedDeadlines => new SharedDeadlines((reason) => new EngineError({ kind: "aborted", message: "caller gave up", retryable: false, cause: reason }));
const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

describe("SharedDeadlines", () => {
  it("gives Batch attempts that start together one signal, and sync attempts one each", () => {
    const shared = deadlines();
    const [a, b] = [shared.acquire(model(5_000), undefined, true), shared.acquire(model(5_000), undefined, true)];
    const [c, d] = [shared.acquire(model(5_000), undefined, false), shared.acquire(model(5_000), undefined, false)];
    expect(a.signal).toBe(b.signal);
    expect(c.signal).not.toBe(d.signal);
    expect(c.signal).not.toBe(a.signal);
    for (const attempt of [a, b, c, d]) attempt.release();
    expect(shared.liveWindows).toBe(1); // the Batch window is still open for more attempts
  });

  it("times out every attempt of a window, each no sooner than its own timeout", async () => {
    const shared = deadlines();
    const first = shared.acquire(model(300), undefined, true); // window of 3 ms
    await sleep(1);
    const second = shared.acquire(model(300), undefined, true);
    const startedSecond = Date.now();
    const fired = new Promise<number>((resolve) => second.signal.addEventListener("abort", () => resolve(Date.now())));
    expect((await fired) - startedSecond).toBeGreaterThanOrEqual(299);
    expect(first.signal.aborted).toBe(true);
    expect(second.signal.reason).toBeInstanceOf(EngineError);
    expect((second.signal.reason as EngineError).kind).toBe("timeout");
    first.release();
    second.release();
    expect(shared.liveWindows).toBe(0);
  });

  it("starts a new window once the old one closed, and clears the old timer when its last attempt ends", async () => {
    const shared = deadlines();
    const early = shared.acquire(model(5_000), undefined, true); // window of 50 ms
    await sleep(70);
    const late = shared.acquire(model(5_000), undefined, true);
    expect(late.signal).not.toBe(early.signal);
    expect(shared.liveWindows).toBe(2);
    early.release();
    expect(shared.liveWindows).toBe(1);
    late.release();
    await sleep(70);
    shared.acquire(model(5_000), undefined, true).release(); // replaces the idle closed window
    expect(shared.liveWindows).toBe(1);
  });

  it("aborts a window's attempts when their caller gives up, with the caller's reason", () => {
    const shared = deadlines();
    const caller = new AbortController();
    const attempt = shared.acquire(model(5_000), caller.signal, true);
    const other = shared.acquire(model(5_000), undefined, true);
    caller.abort("stop");
    expect(attempt.signal.aborted).toBe(true);
    expect((attempt.signal.reason as EngineError).kind).toBe("aborted");
    expect(other.signal.aborted).toBe(false);
    attempt.release();
    other.release();
  });

  it("keeps one listener on a caller's signal however many Batches' windows watch it, and none once they retire", () => {
    const shared = deadlines();
    const caller = new AbortController();
    const attempts = Array.from({ length: 50 }, (_, batch) => shared.acquire(model(5_000), caller.signal, true, `batch-${batch}`));
    expect(shared.liveWindows).toBe(50);
    expect(getEventListeners(caller.signal, "abort")).toHaveLength(1);
    caller.abort("stop");
    expect(attempts.every((attempt) => attempt.signal.aborted && (attempt.signal.reason as EngineError).kind === "aborted")).toBe(true);
    for (const attempt of attempts) attempt.release();
    expect(shared.liveWindows).toBe(0);

    const later = new AbortController();
    const running = Array.from({ length: 5 }, (_, batch) => shared.acquire(model(5_000), later.signal, false, `batch-${batch}`));
    for (const attempt of running) attempt.release();
    expect(shared.liveWindows).toBe(0);
    expect(getEventListeners(later.signal, "abort")).toHaveLength(0);
  });

  it("aborts a sync attempt when its own caller gives up, listening to that caller only while it runs", () => {
    const shared = deadlines();
    const [caller, other] = [new AbortController(), new AbortController()];
    const attempt = shared.acquire(model(5_000), caller.signal, false);
    const finished = shared.acquire(model(5_000), other.signal, false);
    finished.release();
    expect(getEventListeners(other.signal, "abort")).toHaveLength(0);
    caller.abort("client went away");
    expect((attempt.signal.reason as EngineError).kind).toBe("aborted");
    attempt.release();
    expect(shared.liveWindows).toBe(0);
  });

  it("clears the timers of open windows nobody runs in on abortAll and on abortGroup of their Batch", () => {
    const shared = deadlines();
    const closing = new EngineError({ kind: "aborted", message: "closing", retryable: false });
    // Windows stay open for more attempts after their last one ended; their timers would fire in 5 s.
    for (const batch of ["b1", "b2"]) shared.acquire(model(5_000), undefined, true, batch).release();
    expect(shared.liveWindows).toBe(2);
    shared.abortGroup("b1", closing);
    expect(shared.liveWindows).toBe(1);
    shared.abortAll(closing);
    expect(shared.liveWindows).toBe(0);
  });

  it("aborts every running attempt on abortAll", () => {
    const shared = deadlines();
    const attempts = [shared.acquire(model(5_000), undefined, true), shared.acquire(model(5_000), undefined, false)];
    shared.abortAll(new EngineError({ kind: "aborted", message: "closing", retryable: false }));
    expect(attempts.map((attempt) => attempt.signal.aborted)).toEqual([true, true]);
    for (const attempt of attempts) attempt.release();
    expect(shared.liveWindows).toBe(0);
  });
});
