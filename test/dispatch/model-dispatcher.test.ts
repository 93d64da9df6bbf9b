/**
 * ModelDispatcher: per-Model concurrency, sync-before-batch order, retries with the server's Retry-After,
 * lane pauses on 429, aborts. Time is driven by an injected sleep that records what it was asked to wait.
 */
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { ModelConfig, OpenAIModelConfig } from "../../src/config/config.ts";
import { AppError } from "../../src/core/errors.ts";
import { EngineError, type Engine, type EngineReply, type EngineRequest } from "../../src/core/engine.ts";
import { OpenAIEngine } from "../../src/engines/openai/openai-engine.ts";
import type { LoopPressureReading } from "../../src/dispatch/loop-pressure.ts";
import { ModelDispatcher, type Sleep } from "../../src/dispatch/model-dispatcher.ts";
import { failFirstAttempts, startFakeOpenAIUpstream, type FakeOpenAIUpstream } from "../helpers/fake-openai-upstream.ts";
import { waitFor } from "../helpers/wait-for.ts";
import { ManualClock } from "../../src/core/clock.ts";

/** Records every requested sleep; resolves at once unless `hold` is set, then waits for `releaseAll`. */
class SleepRecorder {
  readonly asked: number[] = [];
  hold = false;
  private held: (() => void)[] = [];
  readonly sleep: Sleep = (ms, signal) => {
    this.asked.push(ms);
    if (!this.hold) return Promise.resolve();
    return new Promise((resolve) => {
      this.held.push(resolve);
      signal.addEventListener("abort", () => resolve(), { once: true });
    });
  };
  releaseAll(): void {
    this.hold = false;
    for (const wake of this.held.splice(0)) wake();
  }
}

function chat(text: string) {
  return { model: "gpt-test", messages: [{ role: "user", content: text }] };
}

async function rejection(promise: Promise<unknown>): Promise<unknown> {
  return promise.then(() => {
    throw new Error("expected a rejection");
  }, (error: unknown) => error);
}

describe("ModelDispatcher against an OpenAI-compatible upstream", () => {
  let upstream: FakeOpenAIUpstream;
  let engine: OpenAIEngine;
  let sleeps: SleepRecorder;
  let dispatcher: ModelDispatcher;
  let model: OpenAIModelConfig;

  beforeEach(async () => {
    upstream = await startFakeOpenAIUpstream();
    engine = new OpenAIEngine();
    sleeps = new SleepRecorder();
    model = { name: "gpt-test", engine: "openai", baseUrl: upstream.url, concurrency: 4, timeoutMs: 10_000, maxRetries: 3 };
    dispatcher = new ModelDispatcher({ resolve: (name) => (name === "gpt-test" ? { engine, model } : undefined), sleep: sleeps.sleep, random: () => 0.5 });
  });

  afterEach(async () => {
    await dispatcher.close();
    await engine.close();
    await upstream.close();
  });

  const send = (text: string, priority: "sync" | "batch" = "batch", signal?: AbortSignal) =>
    dispatcher.dispatch({ model: "gpt-test", kind: "chat", dialect: "openai", body: chat(text), priority, signal });

  it("retries a 429 after the server's Retry-After and succeeds", async () => {
    upstream.setFault(failFirstAttempts(1, { status: 429, retryAfter: "3" }));
    const reply = await send("rate limited once");
    expect(reply.statusCode).toBe(200);
    expect(upstream.countsByKey.get("rate limited once")).toBe(2);
    // The retry waited the server's 3 s plus half the 10 % jitter (random is 0.5), not the 500 ms
    // exponential window; the lane paused for the 3 s as well.
    expect([...sleeps.asked].sort((a, b) => a - b)).toEqual([3_000, 3_150]);
  });

  it("reads retry-after-ms too", async () => {
    upstream.setFault(failFirstAttempts(2, { status: 429, retryAfterMs: "40" }));
    await send("rate limited twice");
    expect(upstream.countsByKey.get("rate limited twice")).toBe(3);
    expect(sleeps.asked.filter((ms) => ms === 42)).toHaveLength(2);
  });

  it("retries 500s and resets with exponential backoff and succeeds", async () => {
    upstream.setFault(({ attemptForKey }) => (attemptForKey === 1 ? { status: 500 } : attemptForKey === 2 ? { reset: true } : undefined));
    const dispatcherWithJitter = new ModelDispatcher({ resolve: () => ({ engine, model }), sleep: sleeps.sleep, random: () => 0.999 });
    const reply = await dispatcherWithJitter.dispatch({ model: "gpt-test", kind: "chat", dialect: "openai", body: chat("flaky"), priority: "batch" });
    expect(reply.statusCode).toBe(200);
    expect(upstream.countsByKey.get("flaky")).toBe(3);
    expect(sleeps.asked).toEqual([499, 999]);
  });

  it("gives up after maxRetries and rejects with the last error", async () => {
    upstream.setFault(({ attemptForKey }) => ({ status: 503, body: { error: { message: `down #${attemptForKey}`, type: "server_error", param: null, code: null } } }));
    const error = await rejection(send("always down"));
    expect(error).toBeInstanceOf(EngineError);
    expect(error).toMatchObject({ statusCode: 503, retryable: true, body: { error: { message: "down #4" } } });
    expect(upstream.countsByKey.get("always down")).toBe(4); // 1 try + maxRetries 3
    expect(sleeps.asked).toHaveLength(3);
  });

  it("does not retry a 400", async () => {
    upstream.setFault(() => ({ status: 400 }));
    expect(await rejection(send("bad request"))).toMatchObject({ statusCode: 400, retryable: false });
    expect(upstream.countsByKey.get("bad request")).toBe(1);
    expect(sleeps.asked).toEqual([]);
  });

  it("gives up at once when the server asks to wait longer than the cap", async () => {
    upstream.setFault(() => ({ status: 429, retryAfter: "3600" }));
    expect(await rejection(send("come back tomorrow"))).toMatchObject({ statusCode: 429, retryAfterMs: 3_600_000 });
    expect(upstream.countsByKey.get("come back tomorrow")).toBe(1);
  });

  it("times out a hung attempt after the Model's timeoutMs and retries it", async () => {
    model.timeoutMs = 300;
    upstream.setFault(failFirstAttempts(1, { hang: true }));
    const reply = await send("hangs once");
    expect(reply.statusCode).toBe(200);
    // Usually exactly one retry; a loaded machine may time out the second try too.
    expect(sleeps.asked.length).toBeGreaterThanOrEqual(1);
    expect(upstream.countsByKey.get("hangs once")).toBeGreaterThanOrEqual(2);
  });

  it("rejects with a timeout error once the retries of a slow upstream are spent", async () => {
    model.timeoutMs = 50;
    model.maxRetries = 1;
    upstream.setFault(() => ({ hang: true }));
    expect(await rejection(send("always hangs"))).toMatchObject({ kind: "timeout", retryable: true });
    expect(sleeps.asked).toHaveLength(1); // one backoff: the first try and one retry, both timed out
    expect(upstream.countsByKey.get("always hangs") ?? 0).toBeLessThanOrEqual(2);
  });

  it("never runs more requests of a Model at once than its concurrency", async () => {
    upstream.setFault(() => ({ delayMs: 25 }));
    const replies = await Promise.all(Array.from({ length: 40 }, (_, i) => send(`parallel ${i}`, i % 3 === 0 ? "sync" : "batch")));
    expect(replies.every((reply) => reply.statusCode === 200)).toBe(true);
    expect(upstream.maxInFlight).toBe(4);
    expect(dispatcher.load("gpt-test")).toEqual({ running: 0, waiting: 0, concurrency: 4 });
  });

  it("pauses new starts on the lane while a 429's Retry-After runs", async () => {
    sleeps.hold = true;
    upstream.setFault(({ key, attemptForKey }) => (key === "first" && attemptForKey === 1 ? { status: 429, retryAfter: "2" } : undefined));
    const first = send("first");
    await waitFor(() => sleeps.asked.length === 2, { what: "the lane pause and the retry sleep" });
    const second = send("second");
    // Slots are free (nothing runs) but the lane is paused: the new request queues. The 429 also halved
    // the adaptive limit (slow start ends on the first overload).
    expect(dispatcher.load("gpt-test")).toEqual({ running: 0, waiting: 2, concurrency: 2 });
    expect(upstream.countsByKey.get("second")).toBeUndefined();
    sleeps.releaseAll();
    await Promise.all([first, second]);
    expect(upstream.countsByKey.get("first")).toBe(2);
    expect(upstream.countsByKey.get("second")).toBe(1);
  });

  it("rejects a request aborted while sleeping before a retry", async () => {
    sleeps.hold = true;
    upstream.setFault(() => ({ status: 500 }));
    const controller = new AbortController();
    const pending = send("abort in backoff", "batch", controller.signal);
    await waitFor(() => sleeps.asked.length === 1, { what: "the retry sleep" });
    controller.abort();
    expect(await rejection(pending)).toMatchObject({ kind: "aborted", retryable: false });
    expect(upstream.countsByKey.get("abort in backoff")).toBe(1);
  });

  it("holds requests while this process holds no slots of the Model, says so, and runs them once it gets some", async () => {
    let ceiling = 0;
    const starved: string[] = [];
    // What it is told reads the lane's load at once (capacity-shares.ts): the request must count as waiting by then.
    const waitingWhenTold: number[] = [];
    const shared: ModelDispatcher = new ModelDispatcher({
      resolve: (name) => (name === "gpt-test" ? { engine, model } : undefined),
      sleep: sleeps.sleep,
      ceiling: () => ceiling,
      onStarved: (name) => {
        starved.push(name);
        waitingWhenTold.push(shared.load(name).waiting);
      },
    });
    const pending = shared.dispatch({ model: "gpt-test", kind: "chat", dialect: "openai", body: chat("held"), priority: "sync" });
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(upstream.countsByKey.get("held")).toBeUndefined();
    expect(starved).toEqual(["gpt-test"]);
    expect(waitingWhenTold).toEqual([1]);
    expect(shared.load("gpt-test")).toMatchObject({ running: 0, waiting: 1, concurrency: 0 });
    ceiling = 2;
    shared.refreshCeiling("gpt-test");
    expect((await pending).statusCode).toBe(200);
    expect(upstream.countsByKey.get("held")).toBe(1);
    await shared.close();
  });

  it("throws unknown_model for a Model that is not configured", async () => {
    const error = await rejection(dispatcher.dispatch({ model: "nope", kind: "chat", dialect: "openai", body: chat("x"), priority: "sync" }));
    expect(error).toBeInstanceOf(AppError);
    expect((error as AppError).code).toBe("unknown_model");
  });
});

/** An Engine whose requests finish only when the test says so; records the order they started in. */
class GatedEngine implements Engine {
  readonly name = "gated";
  readonly dialect = "openai" as const;
  readonly started: string[] = [];
  private readonly gates = new Map<string, () => void>();

  execute(request: EngineRequest): Promise<EngineReply> {
    const id = String(request.body.id);
    this.started.push(id);
    return new Promise((resolve, reject) => {
      this.gates.set(id, () => resolve({ statusCode: 200, body: { id }, usage: { inputTokens: 1, outputTokens: 1 }, requestId: null }));
      request.signal.addEventListener("abort", () => reject(new EngineError({ kind: "aborted", message: "aborted", retryable: false })), { once: true });
    });
  }

  finish(id: string): void {
    this.gates.get(id)?.();
  }

  async close(): Promise<void> {}
}

describe("ModelDispatcher queueing", () => {
  let engine: GatedEngine;
  let dispatcher: ModelDispatcher;
  const model: ModelConfig = { name: "one-at-a-time", engine: "openai", baseUrl: "http://127.0.0.1:9/v1", concurrency: 1, timeoutMs: 60_000, maxRetries: 0 };

  beforeEach(() => {
    engine = new GatedEngine();
    dispatcher = new ModelDispatcher({ resolve: () => ({ engine, model }) });
  });

  afterEach(() => dispatcher.close());

  const send = (id: string, priority: "sync" | "batch", signal?: AbortSignal) =>
    dispatcher.dispatch({ model: model.name, kind: "chat", dialect: "openai", body: { id }, priority, signal });

  it("lets sync requests overtake queued batch requests, FIFO within a priority", async () => {
    const all = [send("b0", "batch"), send("b1", "batch"), send("b2", "batch"), send("s1", "sync"), send("b3", "batch"), send("s2", "sync")];
    expect(dispatcher.load(model.name)).toEqual({ running: 1, waiting: 5, concurrency: 1 });
    for (const id of ["b0", "s1", "s2", "b1", "b2", "b3"]) {
      await waitFor(() => engine.started.at(-1) === id, { what: `${id} to start` });
      engine.finish(id);
    }
    await Promise.all(all);
    expect(engine.started).toEqual(["b0", "s1", "s2", "b1", "b2", "b3"]);
  });

  it("rejects a request aborted while queued without ever starting it", async () => {
    const running = send("running", "batch");
    const controller = new AbortController();
    const queued = send("queued", "batch", controller.signal);
    const after = send("after", "batch");
    controller.abort();
    expect(await rejection(queued)).toMatchObject({ kind: "aborted", retryable: false });
    expect(dispatcher.load(model.name).waiting).toBe(1);
    engine.finish("running");
    await waitFor(() => engine.started.includes("after"));
    engine.finish("after");
    await Promise.all([running, after]);
    expect(engine.started).toEqual(["running", "after"]);
  });

  it("aborts the running attempt when the caller cancels", async () => {
    const controller = new AbortController();
    const running = send("cancel me", "sync", controller.signal);
    await waitFor(() => engine.started.length === 1);
    controller.abort();
    expect(await rejection(running)).toMatchObject({ kind: "aborted" });
    expect(dispatcher.load(model.name).running).toBe(0);
  });

  it("stops a cancelled Batch's requests: queued ones at once, the running one aborted, later ones before they start", async () => {
    const ofBatch = (id: string, batchId: string) => dispatcher.dispatch({ model: model.name, kind: "chat", dialect: "openai", body: { id }, priority: "batch", batchId });
    const running = ofBatch("a-running", "batch_a");
    const queued = ofBatch("a-queued", "batch_a");
    const other = ofBatch("b-queued", "batch_b");
    await waitFor(() => engine.started.length === 1);
    dispatcher.cancelBatch("batch_a");
    expect(await rejection(queued)).toMatchObject({ kind: "cancelled", retryable: false, message: expect.stringContaining("before this request ran") });
    expect(await rejection(running)).toMatchObject({ kind: "cancelled", message: expect.stringContaining("while this request ran") });
    expect(await rejection(ofBatch("a-late", "batch_a"))).toMatchObject({ kind: "cancelled" });
    await waitFor(() => engine.started.includes("b-queued"));
    engine.finish("b-queued");
    await other;
    expect(engine.started).toEqual(["a-running", "b-queued"]);
  });

  it("lets a cancelled Batch's running request finish with cancelRunning: finish", async () => {
    const finishing = new ModelDispatcher({ resolve: () => ({ engine, model }), cancelRunning: "finish" });
    try {
      const running = finishing.dispatch({ model: model.name, kind: "chat", dialect: "openai", body: { id: "keep" }, priority: "batch", batchId: "batch_f" });
      const queued = finishing.dispatch({ model: model.name, kind: "chat", dialect: "openai", body: { id: "drop" }, priority: "batch", batchId: "batch_f" });
      await waitFor(() => engine.started.length === 1);
      finishing.cancelBatch("batch_f");
      expect(await rejection(queued)).toMatchObject({ kind: "cancelled" });
      engine.finish("keep");
      expect((await running).body).toEqual({ id: "keep" });
      expect(engine.started).toEqual(["keep"]);
    } finally {
      await finishing.close();
    }
  });

  it("rejects waiting and running requests with aborted errors on close", async () => {
    const running = send("running", "batch");
    const waiting = send("waiting", "sync");
    await dispatcher.close();
    expect(await rejection(running)).toMatchObject({ kind: "aborted" });
    expect(await rejection(waiting)).toMatchObject({ kind: "aborted" });
    expect(await rejection(send("late", "sync"))).toMatchObject({ kind: "aborted" });
    expect(engine.started).toEqual(["running"]);
  });
});

describe("ModelDispatcher: Batch requests yield to sync ones", () => {
  let engine: GatedEngine;
  let clock: ManualClock;
  /** Sleeps the Dispatcher asked for (its wake-ups), woken by the test. */
  let sleeping: { ms: number; wake: () => void }[];
  let dispatcher: ModelDispatcher;

  const start = (syncFirst: ModelConfig["syncFirst"], loopPressure?: LoopPressureReading): void => {
    const model: ModelConfig = { name: "four-slots", engine: "openai", baseUrl: "http://127.0.0.1:9/v1", concurrency: 4, adaptive: false, timeoutMs: 60_000, maxRetries: 0, syncFirst };
    dispatcher = new ModelDispatcher({
      resolve: () => ({ engine, model }),
      clock,
      loopPressure,
      sleep: (ms, signal) =>
        new Promise((resolve) => {
          sleeping.push({ ms, wake: () => resolve() });
          signal.addEventListener("abort", () => resolve(), { once: true });
        }),
    });
  };

  beforeEach(() => {
    engine = new GatedEngine();
    clock = new ManualClock();
    sleeping = [];
  });

  afterEach(() => dispatcher.close());

  const send = (id: string, priority: "sync" | "batch") => dispatcher.dispatch({ model: "four-slots", kind: "chat", dialect: "openai", body: { id }, priority });

  it("holds Batch requests to their share of the slots while sync requests are about, and gives the slots back after quietMs of quiet", async () => {
    start({ batchShare: 0.25, quietMs: 1_000 });
    const sync = send("s1", "sync");
    const batch = ["b0", "b1", "b2", "b3"].map((id) => send(id, "batch"));
    // A quarter of four slots: one Batch request runs beside the sync one, although two slots are free.
    expect(engine.started).toEqual(["s1", "b0"]);
    expect(dispatcher.load("four-slots")).toEqual({ running: 2, waiting: 3, concurrency: 4 });

    engine.finish("s1");
    await sync;
    clock.advance(999);
    engine.finish("b0");
    await batch[0];
    // The sync request ended under a second ago: the next Batch request takes the one Batch slot, no more.
    expect(engine.started).toEqual(["s1", "b0", "b1"]);

    clock.advance(1);
    const wake = sleeping.find((sleep) => sleep.ms > 0);
    expect(wake, "a wake-up for when the yield ends").toBeDefined();
    wake!.wake();
    await waitFor(() => engine.started.length === 5, { what: "the held Batch requests to start once sync traffic was quiet for quietMs" });
    expect(engine.started.slice(2).sort()).toEqual(["b1", "b2", "b3"]);
    for (const id of ["b1", "b2", "b3"]) engine.finish(id);
    await Promise.all(batch);
  });

  it("tells the Worker how many slots Batch requests may hold while they yield, and nothing once sync traffic was quiet for quietMs", async () => {
    start({ batchShare: 0.5, quietMs: 1_000 });
    expect(dispatcher.batchSlots("four-slots")).toBeNull();
    const sync = send("s1", "sync");
    expect(dispatcher.batchSlots("four-slots")).toBe(2);
    engine.finish("s1");
    await sync;
    clock.advance(999);
    expect(dispatcher.batchSlots("four-slots")).toBe(2);
    clock.advance(1);
    expect(dispatcher.batchSlots("four-slots")).toBeNull();
    expect(dispatcher.batchSlots("a-model-never-used")).toBeNull();
  });

  it("shrinks the Batch requests' share further while the event loop lags, never below one slot", async () => {
    const pressure = { factor: 0.5 };
    start({ batchShare: 0.5, quietMs: 1_000 }, pressure);
    const sync = send("s1", "sync");
    const batch = ["b0", "b1", "b2"].map((id) => send(id, "batch"));
    // Half of four slots is two; at half pressure, one.
    expect(engine.started).toEqual(["s1", "b0"]);
    pressure.factor = 1 / 64;
    engine.finish("b0");
    await batch[0];
    expect(engine.started).toEqual(["s1", "b0", "b1"]);
    // The loop is free again: the next release lets a second Batch request run beside b1.
    pressure.factor = 1;
    engine.finish("s1");
    await sync;
    await waitFor(() => engine.started.length === 4, { what: "a second Batch request once the pressure is gone" });
    for (const id of ["b1", "b2"]) engine.finish(id);
    await Promise.all(batch);
  });

  it("asks for the loop's pressure only while sync requests are about (asking is what keeps the loop measured)", async () => {
    let asks = 0;
    start({ batchShare: 0.25, quietMs: 1_000 }, {
      get factor() {
        asks += 1;
        return 1;
      },
    });
    const batch = ["b0", "b1", "b2", "b3"].map((id) => send(id, "batch"));
    expect(engine.started).toEqual(["b0", "b1", "b2", "b3"]);
    expect(asks).toBe(0);
    const sync = send("s1", "sync");
    engine.finish("b0");
    await batch[0];
    const late = send("b4", "batch");
    expect(engine.started).toEqual(["b0", "b1", "b2", "b3", "s1"]);
    expect(asks).toBeGreaterThan(0);
    for (const id of ["b1", "b2", "b3", "s1"]) engine.finish(id);
    await Promise.all([...batch.slice(1), sync]);
    clock.advance(1_000);
    sleeping.find((sleep) => sleep.ms > 0)?.wake();
    await waitFor(() => engine.started.includes("b4"), { what: "the late Batch request to start" });
    engine.finish("b4");
    await late;
  });

  it("gives Batch requests every slot with batchShare 1 (whatever the loop's pressure), and when no sync request came", async () => {
    start({ batchShare: 1 }, { factor: 1 / 64 });
    const all = [send("s1", "sync"), send("b0", "batch"), send("b1", "batch"), send("b2", "batch")];
    expect(engine.started).toEqual(["s1", "b0", "b1", "b2"]);
    for (const id of ["s1", "b0", "b1", "b2"]) engine.finish(id);
    await Promise.all(all);
    await dispatcher.close();

    start(undefined);
    const batch = ["c0", "c1", "c2", "c3"].map((id) => send(id, "batch"));
    expect(engine.started.slice(4)).toEqual(["c0", "c1", "c2", "c3"]);
    for (const id of ["c0", "c1", "c2", "c3"]) engine.finish(id);
    await Promise.all(batch);
  });
});
