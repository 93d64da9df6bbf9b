/**
 * A Model with several backends in the ModelDispatcher (issue 12, part 5): cheapest first, dearer ones for
 * sync overflow and as the deadline demand asks, failover on the backend's failures (not the request's),
 * a circuit breaker that opens on consecutive failures and closes after a successful probe, and replies
 * marked with the backend that served them. Two real loopback upstreams behind the real OpenAI engine;
 * time (the breaker's cooldown) is a manual clock, and sleeps are recorded instead of slept.
 */
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { OpenAIModelConfig } from "../../src/config/config.ts";
import { ManualClock } from "../../src/core/clock.ts";
import { EngineError } from "../../src/core/engine.ts";
import { ModelDispatcher, type Sleep } from "../../src/dispatch/model-dispatcher.ts";
import { OpenAIEngine } from "../../src/engines/openai/openai-engine.ts";
import { startFakeOpenAIUpstream, type FakeOpenAIUpstream } from "../helpers/fake-openai-upstream.ts";
import { waitFor } from "../helpers/wait-for.ts";

const CHEAP = { input: 0.1, output: 0.2 };
const DEAR = { input: 1, output: 2 };

describe("ModelDispatcher with several backends", () => {
  let cheap: FakeOpenAIUpstream;
  let dear: FakeOpenAIUpstream;
  let engine: OpenAIEngine;
  let clock: ManualClock;
  let cooldowns: { ms: number; wake: () => void }[];
  let dispatcher: ModelDispatcher;
  let model: OpenAIModelConfig;

  beforeEach(async () => {
    cheap = await startFakeOpenAIUpstream();
    dear = await startFakeOpenAIUpstream();
    engine = new OpenAIEngine();
    clock = new ManualClock();
    cooldowns = [];
    // Retry backoffs pass at once; the breaker's cooldown sleeps until the test wakes it.
    const sleep: Sleep = (ms, signal) =>
      ms >= 1_000
        ? new Promise((resolve) => {
            cooldowns.push({ ms, wake: () => resolve() });
            signal.addEventListener("abort", () => resolve(), { once: true });
          })
        : Promise.resolve();
    const common = { timeoutMs: 10_000, maxRetries: 2, adaptive: false } as const;
    // Listed dear first: the Dispatcher orders them by price, not by the config.
    model = {
      name: "gpt-test", engine: "openai", baseUrl: dear.url, concurrency: 4, price: DEAR, backendName: "dear", ...common,
      breaker: { failures: 3, cooldownMs: 5_000 },
      backends: [{ name: "gpt-test", engine: "openai", baseUrl: cheap.url, concurrency: 2, price: CHEAP, backendName: "cheap", ...common }],
    };
    dispatcher = new ModelDispatcher({ resolve: (name) => (name === "gpt-test" ? { engine, model } : undefined), engineFor: () => engine, clock, sleep, random: () => 0.5 });
  });

  afterEach(async () => {
    await dispatcher.close();
    await engine.close();
    await cheap.close();
    await dear.close();
  });

  const send = (text: string, priority: "sync" | "batch" = "batch") =>
    dispatcher.dispatch({ model: "gpt-test", kind: "chat", dialect: "openai", body: { model: "gpt-test", messages: [{ role: "user", content: text }] }, priority });
  const backend = (name: string) => dispatcher.backends("gpt-test").find((each) => each.name === name);

  it("runs Batch requests on the cheapest backend only while no deadline asks for more, and marks who served them", async () => {
    let open: () => void = () => undefined;
    const gate = new Promise<void>((resolve) => (open = resolve));
    cheap.setFault(() => ({ until: gate }));
    const replies = Array.from({ length: 6 }, (_, index) => send(`batch ${index}`));
    await waitFor(() => cheap.requests === 2, { what: "the cheap backend full" });
    // Four wait for the cheap backend's two slots: the dear one is not needed, and gets nothing.
    expect(dear.requests).toBe(0);
    expect(dispatcher.load("gpt-test")).toMatchObject({ running: 2, waiting: 4, concurrency: 6 });
    expect(dispatcher.backends("gpt-test").map((each) => [each.name, each.allowance])).toEqual([["cheap", 2], ["dear", 0]]);
    open();
    cheap.setFault(null);
    const served = await Promise.all(replies);
    expect(served.map((reply) => reply.servedBy)).toEqual(Array.from({ length: 6 }, () => ({ backend: "cheap", price: CHEAP })));
    expect(dear.requests).toBe(0);
  });

  it("sends sync requests to a dearer backend when the cheapest has no free slot", async () => {
    let open: () => void = () => undefined;
    const gate = new Promise<void>((resolve) => (open = resolve));
    cheap.setFault(() => ({ until: gate }));
    const batch = [send("b1"), send("b2")];
    await waitFor(() => cheap.requests === 2, { what: "the cheap backend full" });
    const reply = await send("a person waits", "sync");
    expect(reply.servedBy?.backend).toBe("dear");
    open();
    expect((await Promise.all(batch)).map((each) => each.servedBy?.backend)).toEqual(["cheap", "cheap"]);
  });

  it("spills Batch requests onto the dearer backend as far as the deadline demand needs", async () => {
    // Paces are measured latencies: this one runs on the real clock.
    await dispatcher.close();
    dispatcher = new ModelDispatcher({ resolve: () => ({ engine, model }), engineFor: () => engine });
    cheap.setLatency(200);
    dear.setLatency(100);
    await send("learn the cheap pace"); // 2 slots at 200 ms: 10 Items/s
    dispatcher.setDeadlineDemand("gpt-test", 24);
    // The dear backend's pace is unknown: one request at a time learns it.
    expect(backend("dear")?.allowance).toBe(1);
    await Promise.all(Array.from({ length: 6 }, (_, index) => send(`learn the dear pace ${index}`, "sync")));
    expect(backend("dear")?.served).toBeGreaterThanOrEqual(4);
    dispatcher.setDeadlineDemand("gpt-test", 12);
    // 4 slots at 100 ms (more on a loaded machine) are up to 40/s; the few per second the cheap one leaves
    // need part of them, not all.
    const partly = backend("dear")?.allowance ?? 0;
    expect(partly).toBeGreaterThanOrEqual(1);
    expect(partly).toBeLessThan(4);
    dispatcher.setDeadlineDemand("gpt-test", 10_000);
    expect(backend("dear")?.allowance).toBe(4);
    dispatcher.setDeadlineDemand("gpt-test", 0);
    expect(backend("dear")?.allowance).toBe(0);
    expect(backend("cheap")?.allowance).toBe(2);
  });

  it("fails a request over to another backend at once when the backend fails, without spending a retry", async () => {
    cheap.setFault(() => ({ status: 502 }));
    const reply = await send("cheap is broken");
    expect(reply.servedBy?.backend).toBe("dear");
    expect(cheap.countsByKey.get("cheap is broken")).toBe(1);
    expect(dear.countsByKey.get("cheap is broken")).toBe(1);
    cheap.setFault(() => ({ reset: true }));
    expect((await send("connection reset")).servedBy?.backend).toBe("dear");
    expect(backend("cheap")).toMatchObject({ faults: 2, breaker: "closed" });
  });

  it("does not fail over a 4xx: the request is wrong on every backend", async () => {
    cheap.setFault(() => ({ status: 400 }));
    const error = await send("bad request").then(() => null, (failure: unknown) => failure);
    expect(error).toBeInstanceOf(EngineError);
    expect(error).toMatchObject({ statusCode: 400 });
    expect(dear.requests).toBe(0);
    expect(backend("cheap")).toMatchObject({ faults: 0, breaker: "closed" });
  });

  it("opens a backend's breaker after consecutive failures, and a successful probe after the cooldown closes it", async () => {
    cheap.setFault(() => ({ status: 503 }));
    for (let index = 0; index < 3; index += 1) expect((await send(`down ${index}`)).servedBy?.backend).toBe("dear");
    expect(backend("cheap")?.breaker).toBe("open");
    // Open: the cheap backend gets nothing, Batch requests too go to the dear one now.
    const before = cheap.requests;
    expect((await send("while open")).servedBy?.backend).toBe("dear");
    expect(cheap.requests).toBe(before);
    expect(backend("dear")?.allowance).toBe(4);

    cheap.setFault(null);
    clock.advance(5_000);
    expect(backend("cheap")?.breaker).toBe("half_open");
    // One probe; its success closes the breaker and the cheap backend takes Batch traffic again.
    expect((await send("probe")).servedBy?.backend).toBe("cheap");
    expect(backend("cheap")?.breaker).toBe("closed");
    expect((await send("after")).servedBy?.backend).toBe("cheap");
    expect(cooldowns.map((each) => each.ms)).toEqual([5_000]);
  });

  it("opens the breaker again when the probe fails", async () => {
    cheap.setFault(() => ({ status: 500 }));
    for (let index = 0; index < 3; index += 1) await send(`down ${index}`);
    clock.advance(5_000);
    expect(backend("cheap")?.breaker).toBe("half_open");
    expect((await send("probe fails")).servedBy?.backend).toBe("dear");
    expect(backend("cheap")?.breaker).toBe("open");
  });

  it("when every backend fails, retries as a single backend would and fails with the last error", async () => {
    cheap.setFault(() => ({ status: 500 }));
    dear.setFault(() => ({ status: 500 }));
    const error = await send("everything down").then(() => null, (failure: unknown) => failure);
    expect(error).toMatchObject({ statusCode: 500 });
    // 1 try, 1 failover (at most one per other backend), then maxRetries 2 on the cheapest again.
    expect(cheap.countsByKey.get("everything down")).toBe(3);
    expect(dear.countsByKey.get("everything down")).toBe(1);
  });
});
