/**
 * The openai Engine with several upstream URLs (`baseUrls`), against two in-process fake upstreams: prefix
 * groups stay on one replica, a failing replica is skipped for a cool-down, round-robin alternates.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import type { OpenAIModelConfig } from "../../../src/config/config.ts";
import { EngineError } from "../../../src/core/engine.ts";
import { OpenAIEngine } from "../../../src/engines/openai/openai-engine.ts";
import { startFakeOpenAIUpstream, type FakeOpenAIUpstream } from "../../helpers/fake-openai-upstream.ts";

let replicas: FakeOpenAIUpstream[];
let now = Date.UTC(2026, 0, 1);
let engine: OpenAIEngine;

beforeAll(async () => {
  replicas = await Promise.all([startFakeOpenAIUpstream({ record: true }), startFakeOpenAIUpstream({ record: true })]);
  engine = new OpenAIEngine({ nowMs: () => now });
});

afterEach(() => {
  for (const replica of replicas) {
    replica.setFault(null);
    replica.resetCounts();
  }
});

afterAll(async () => {
  await engine.close();
  await Promise.all(replicas.map((replica) => replica.close()));
});

let modelCount = 0;
/** A fresh Model object (routes are per config object, so each test starts with clean URL state). */
function model(overrides: Partial<OpenAIModelConfig> = {}): OpenAIModelConfig {
  modelCount++;
  return { name: `replicated-${modelCount}`, engine: "openai", baseUrls: replicas.map((replica) => replica.url), concurrency: 8, timeoutMs: 10_000, maxRetries: 0, ...overrides };
}

// 16 families: the chance that hashing puts all of them on one replica (ports are random) is 2^-15.
const systemPrompts = Array.from({ length: 16 }, (_, index) => `Prompt family ${index}. ${"Answer as a careful support agent would. ".repeat(10)}`);

function chat(family: number, question: string) {
  return { model: "client", messages: [{ role: "system", content: systemPrompts[family] }, { role: "user", content: question }] };
}

function run(target: OpenAIModelConfig, body: Record<string, unknown>) {
  return engine.execute({ kind: "chat", dialect: "openai", body, model: target, signal: new AbortController().signal });
}

/** Index of the replica that received each family's requests (throws if a family reached both). */
function replicaOfFamilies(): Map<number, number> {
  const owner = new Map<number, number>();
  replicas.forEach((replica, index) => {
    for (const request of replica.received) {
      const system = (request.body.messages as Array<{ content: string }>)[0]!.content;
      const family = systemPrompts.indexOf(system);
      expect(owner.get(family) ?? index, `family ${family} reached both replicas`).toBe(index);
      owner.set(family, index);
    }
  });
  return owner;
}

describe("OpenAIEngine with several baseUrls", () => {
  it("keeps every request of a prefix family on one replica and uses both replicas", async () => {
    const target = model();
    for (let round = 0; round < 3; round++) {
      for (let family = 0; family < 16; family++) await run(target, chat(family, `question ${round}`));
    }
    const owners = replicaOfFamilies();
    expect(owners.size).toBe(16);
    expect(new Set(owners.values()).size).toBe(2);
    expect(replicas[0]!.received.length + replicas[1]!.received.length).toBe(48);
  });

  it("lists baseUrl first when both baseUrl and baseUrls are set, without repeating it", async () => {
    const target = model({ baseUrl: replicas[1]!.url, baseUrls: [replicas[1]!.url] });
    await run(target, chat(0, "single"));
    expect(replicas[1]!.received).toHaveLength(1);
    expect(replicas[0]!.received).toHaveLength(0);
  });

  it("skips a replica answering 5xx for the cool-down, moves its families to the other, then returns to it", async () => {
    const target = model();
    await run(target, chat(0, "find the owner"));
    const owner = replicas.findIndex((replica) => replica.received.length === 1);
    const other = 1 - owner;
    replicas[owner]!.setFault(() => ({ status: 503 }));
    const error = await run(target, chat(0, "owner fails")).then(() => null, (caught: unknown) => caught);
    expect(error).toBeInstanceOf(EngineError);
    expect(error).toMatchObject({ statusCode: 503, retryable: true });

    await run(target, chat(0, "moved"));
    expect(replicas[other]!.received.map((request) => (request.body.messages as Array<{ content: string }>)[1]!.content)).toEqual(["moved"]);
    replicas[owner]!.setFault(null);
    now += 29_000;
    await run(target, chat(0, "still moved"));
    expect(replicas[other]!.received).toHaveLength(2);
    now += 1_000;
    await run(target, chat(0, "back home"));
    expect(replicas[owner]!.received.at(-1)!.body.messages).toEqual(chat(0, "back home").messages);
  });

  it("skips a replica that refuses connections", async () => {
    const dead = await startFakeOpenAIUpstream();
    await dead.close();
    const target = model({ baseUrls: [dead.url, replicas[0]!.url] });
    const outcomes = [];
    for (let family = 0; family < 8; family++) {
      outcomes.push(await run(target, chat(family, "q")).then(() => "ok", (error: EngineError) => error.kind));
    }
    // At most one request (the first routed to the dead URL) fails; afterwards everything goes to the live one.
    expect(outcomes.filter((outcome) => outcome !== "ok").length).toBeLessThanOrEqual(1);
    expect(outcomes.filter((outcome) => outcome !== "ok").every((kind) => kind === "network")).toBe(true);
    expect(replicas[0]!.received.length).toBe(outcomes.filter((outcome) => outcome === "ok").length);
  });

  it("alternates replicas with baseUrlRouting round-robin", async () => {
    const target = model({ baseUrlRouting: "round-robin" });
    for (let index = 0; index < 6; index++) await run(target, chat(0, `turn ${index}`));
    expect(replicas.map((replica) => replica.received.length)).toEqual([3, 3]);
  });
});
