/**
 * KV reuse in the llama-cpp Engine, on the generated models: replies identical to emptied-sequence runs,
 * honest usage (prompt_tokens whole, the reused part as cached_tokens), requests routed to the sequence
 * holding their prefix, and the cases where a sequence's cache must not be trusted or would not fit.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { LlamaCppModelConfig } from "../../../src/config/config.ts";
import type { RequestKind } from "../../../src/core/types.ts";
import type { EngineReply } from "../../../src/core/engine.ts";
import { TEST_MODEL_PRESETS } from "../../../src/demo-model/generate-test-model.ts";
import { LlamaCppEngine } from "../../../src/engines/llama-cpp/llama-cpp-engine.ts";
import { withTranslation } from "../../../src/dialects/translate/translating-engine.ts";
import { ensureBench25mModel, ensureTinyModel } from "../../helpers/test-model.ts";
import { waitFor } from "../../helpers/wait-for.ts";

interface Usage {
  prompt_tokens: number;
  completion_tokens: number;
  prompt_tokens_details: { cached_tokens: number };
}

interface ReplyBody {
  choices: Array<{ message?: { content: string }; text?: string; finish_reason: string }>;
  usage: Usage;
}

/** Ids of `<|endoftext|>` and `<|im_end|>`: the special tokens follow the 256 byte tokens and the merges. */
function endTokenBias(mergeCount: number): Record<string, number> {
  return { [String(256 + mergeCount)]: -100, [String(256 + mergeCount + 2)]: -100 };
}

/** A system prompt of a few hundred tokens, different from the others from its first word on. */
function systemPrompt(topic: string, repeats = 8): string {
  return `${topic}: ` + `You answer questions about ${topic} in one short sentence, then stop. `.repeat(repeats);
}

const engines: LlamaCppEngine[] = [];

function startEngine(path: string, name: string, extra: Partial<LlamaCppModelConfig> = {}): { engine: LlamaCppEngine; run: (kind: RequestKind, body: Record<string, unknown>, signal?: AbortSignal) => Promise<EngineReply> } {
  const model: LlamaCppModelConfig = { name, engine: "llama-cpp", path, concurrency: 8, timeoutMs: 120_000, maxRetries: 0, threads: 1, sequences: 2, ...extra };
  const engine = new LlamaCppEngine({ model, probe: false });
  engines.push(engine);
  const run = (kind: RequestKind, body: Record<string, unknown>, signal = new AbortController().signal) => engine.execute({ kind, dialect: "openai", body, model, signal });
  return { engine, run };
}

const bodyOf = (reply: EngineReply): ReplyBody => reply.body as ReplyBody;
const textsOf = (body: ReplyBody): string[] => body.choices.map((choice) => choice.message?.content ?? choice.text ?? "");

function chat(system: string, user: string, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { messages: [{ role: "system", content: system }, { role: "user", content: user }], max_tokens: 12, temperature: 0, ...extra };
}

/** Runs `bodies` at once on a reusing and an emptying engine over the same model and compares every reply. */
async function compareWithAndWithoutReuse(path: string, bodies: Array<{ kind: RequestKind; body: Record<string, unknown> }>): Promise<{ reused: LlamaCppEngine; cleared: LlamaCppEngine; replies: ReplyBody[] }> {
  const reusing = startEngine(path, "reusing");
  const clearing = startEngine(path, "clearing", { kvReuse: false });
  const cleared = await Promise.all(bodies.map(({ kind, body }) => clearing.run(kind, body)));
  const reused = await Promise.all(bodies.map(({ kind, body }) => reusing.run(kind, body)));
  bodies.forEach((_, index) => {
    const expected = bodyOf(cleared[index]!);
    const actual = bodyOf(reused[index]!);
    expect(textsOf(actual), `texts of request ${index}`).toEqual(textsOf(expected));
    expect(actual.choices.map((choice) => choice.finish_reason)).toEqual(expected.choices.map((choice) => choice.finish_reason));
    expect([actual.usage.prompt_tokens, actual.usage.completion_tokens]).toEqual([expected.usage.prompt_tokens, expected.usage.completion_tokens]);
    expect(expected.usage.prompt_tokens_details.cached_tokens).toBe(0);
  });
  const reusedStats = reusing.engine.stats();
  const clearedStats = clearing.engine.stats();
  expect(clearedStats).toMatchObject({ kvReuse: false, promptTokensReused: 0, prefixCopies: 0, prefixWaits: 0 });
  expect(reusedStats.kvReuse).toBe(true);
  // Every prompt token was either evaluated or reused, and reuse saved most of the evaluation.
  expect(reusedStats.promptTokensEvaluated + reusedStats.promptTokensReused).toBe(clearedStats.promptTokensEvaluated);
  expect(reusedStats.promptTokensEvaluated).toBeLessThan(clearedStats.promptTokensEvaluated / 2);
  const replies = reused.map(bodyOf);
  const cachedInReplies = replies.reduce((sum, body) => sum + body.usage.prompt_tokens_details.cached_tokens, 0);
  expect(cachedInReplies).toBeGreaterThan(0);
  expect(cachedInReplies).toBeLessThanOrEqual(reusedStats.promptTokensReused);
  return { reused: reusing.engine, cleared: clearing.engine, replies };
}

let tinyPath: string;
let bench25mPath: string;

beforeAll(async () => {
  [tinyPath, bench25mPath] = await Promise.all([ensureTinyModel(), ensureBench25mModel()]);
}, 120_000);

afterAll(async () => {
  await Promise.all(engines.map((engine) => engine.close()));
});

describe("LlamaCppEngine KV reuse: same replies as emptied sequences", () => {
  it("gives byte-identical replies and usage with and without reuse on the tiny model (chat, n > 1, seeds, completions)", async () => {
    const systems = ["billing", "shipping", "returns"].map((topic) => systemPrompt(topic));
    const bodies: Array<{ kind: RequestKind; body: Record<string, unknown> }> = [];
    for (let index = 0; index < 12; index++) {
      const seeded = index % 4 === 3 ? { temperature: 0.8, seed: 100 + index } : {};
      bodies.push({ kind: "chat", body: chat(systems[index % 3]!, `Question ${index}: what about order ${index * 7}?`, seeded) });
    }
    bodies.push({ kind: "chat", body: chat(systems[0]!, "Give me two answers.", { n: 2, temperature: 0.7, seed: 9 }) });
    const story = `Once upon a time ${"there was a batch of requests that ran all night. ".repeat(6)}`;
    bodies.push({ kind: "completion", body: { prompt: [`${story}The end was`, `${story}The middle was`], max_tokens: 10, temperature: 0 } });

    const { replies } = await compareWithAndWithoutReuse(tinyPath, bodies);
    const twoChoices = replies[12]!;
    expect(twoChoices.choices).toHaveLength(2);
    // The prompt is counted once for n = 2, and its cached part once too.
    expect(twoChoices.usage.prompt_tokens_details.cached_tokens).toBeLessThan(twoChoices.usage.prompt_tokens);
  }, 60_000);

  it("gives byte-identical replies with and without reuse on the 25M model", async () => {
    const systems = ["invoices", "parcels"].map((topic) => systemPrompt(topic, 5));
    const bodies = Array.from({ length: 6 }, (_, index) => ({
      kind: "chat" as const,
      body: chat(systems[index % 2]!, `Question ${index}: and item ${index}?`, index === 5 ? { temperature: 0.7, seed: 77, max_tokens: 8 } : { max_tokens: 8 }),
    }));
    await compareWithAndWithoutReuse(bench25mPath, bodies);
  }, 180_000);
});

describe("LlamaCppEngine prefix sharing between sequences", () => {
  it("evaluates a system prompt once when four requests sharing it start on four sequences at once", async () => {
    const system = systemPrompt("warranty", 10);
    const bodies = Array.from({ length: 4 }, (_, index) => ({ kind: "chat" as const, body: chat(system, `Question ${index}?`) }));
    const sharing = startEngine(tinyPath, "sharing", { sequences: 4 });
    const alone = startEngine(tinyPath, "alone", { sequences: 1 });
    const single = bodyOf(await alone.run("chat", bodies[0]!.body)).usage.prompt_tokens;
    const replies = (await Promise.all(bodies.map(({ kind, body }) => sharing.run(kind, body)))).map(bodyOf);
    const stats = sharing.engine.stats();
    expect(stats.peakBusySequences).toBe(4);
    expect(stats.prefixWaits).toBe(3);
    expect(stats.prefixCopies).toBe(3);
    // One request evaluated the whole prompt; the other three only what follows the system prompt.
    expect(stats.promptTokensEvaluated).toBeLessThan(single + 3 * 20);
    const cached = replies.map((reply) => reply.usage.prompt_tokens_details.cached_tokens).sort((a, b) => a - b);
    expect(cached[0]).toBe(0);
    for (const [index, reply] of replies.entries()) {
      if (reply.usage.prompt_tokens_details.cached_tokens > 0) expect(reply.usage.prompt_tokens_details.cached_tokens, `request ${index}`).toBeGreaterThan(reply.usage.prompt_tokens - 20);
    }
  }, 60_000);

  it("copies a prefix held by another sequence and gives the same replies as emptied sequences on the 25M model", async () => {
    const systems = ["refunds", "carriers", "labels"].map((topic) => systemPrompt(topic, 6));
    // Interleaved prefixes on four sequences: a request often lands on a sequence holding another prompt
    // while a sibling sequence holds its own.
    const bodies = Array.from({ length: 9 }, (_, index) => ({ kind: "chat" as const, body: chat(systems[index % 3]!, `Item ${index}: where is it?`, { max_tokens: 6 }) }));
    const reusing = startEngine(bench25mPath, "sharing-25m", { sequences: 4 });
    const clearing = startEngine(bench25mPath, "clearing-25m", { sequences: 4, kvReuse: false });
    const expected = (await Promise.all(bodies.map(({ kind, body }) => clearing.run(kind, body)))).map(bodyOf);
    const actual = (await Promise.all(bodies.map(({ kind, body }) => reusing.run(kind, body)))).map(bodyOf);
    expect(actual.map(textsOf)).toEqual(expected.map(textsOf));
    expect(actual.map((body) => body.usage.prompt_tokens)).toEqual(expected.map((body) => body.usage.prompt_tokens));
    const stats = reusing.engine.stats();
    expect(stats.prefixCopies).toBeGreaterThan(0);
    // Three distinct system prompts: each evaluated once, the rest copied or reused.
    const systemTokens = expected[0]!.usage.prompt_tokens - 12;
    expect(stats.promptTokensEvaluated).toBeLessThan(3 * systemTokens + 9 * 25);
  }, 180_000);
});

describe("LlamaCppEngine prefix sharing under aborts", () => {
  it("answers every request it does not abort exactly as emptied sequences do, with aborts landing while requests wait, copy and generate", async () => {
    const systems = ["returns", "labels", "carriers"].map((topic) => systemPrompt(topic, 8));
    const bodies = Array.from({ length: 24 }, (_, index) => chat(systems[index % 3]!, `Case ${index}: what now?`, { max_tokens: 10 }));
    const clearing = startEngine(tinyPath, "abort-clearing", { sequences: 4, concurrency: 24, kvReuse: false });
    const expected = (await Promise.all(bodies.map((body) => clearing.run("chat", body)))).map(bodyOf);
    const sharing = startEngine(tinyPath, "abort-sharing", { sequences: 4, concurrency: 24 });
    await sharing.engine.warmup();
    // Every fourth request is aborted at a different moment: at once (waiting for a sequence or for a
    // sibling's evaluation), or a few milliseconds in (copying, evaluating, generating).
    const aborted = new Set(bodies.map((_, index) => index).filter((index) => index % 4 === 1));
    const outcomes = await Promise.all(
      bodies.map(async (body, index) => {
        const controller = new AbortController();
        if (aborted.has(index)) setTimeout(() => controller.abort(new Error("test abort")), (index * 3) % 20);
        try {
          return { index, reply: bodyOf(await sharing.run("chat", body, controller.signal)) };
        } catch (error) {
          return { index, error };
        }
      }),
    );
    for (const outcome of outcomes) {
      if ("error" in outcome) {
        expect(aborted.has(outcome.index), `request ${outcome.index} failed: ${String(outcome.error)}`).toBe(true);
        continue;
      }
      expect(textsOf(outcome.reply), `request ${outcome.index}`).toEqual(textsOf(expected[outcome.index]!));
      expect(outcome.reply.usage.prompt_tokens).toBe(expected[outcome.index]!.usage.prompt_tokens);
    }
    expect(outcomes.filter((outcome) => "reply" in outcome).length).toBeGreaterThanOrEqual(18);
    // Nothing is left waiting or holding a sequence, and the engine still answers, reusing what it holds.
    expect(sharing.engine.stats()).toMatchObject({ busySequences: 0, waitingRequests: 0 });
    expect(sharing.engine.stats().prefixCopies).toBeGreaterThan(0);
    const after = bodyOf(await sharing.run("chat", bodies[0]!));
    expect(textsOf(after)).toEqual(textsOf(expected[0]!));
  }, 60_000);

  it("lets a request waiting for a sibling's evaluation be aborted, and frees its sequence", async () => {
    const system = systemPrompt("warranty", 12);
    const { engine, run } = startEngine(tinyPath, "abort-waiting", { sequences: 2 });
    await engine.warmup();
    const controller = new AbortController();
    const first = run("chat", chat(system, "first"));
    const second = run("chat", chat(system, "second"), controller.signal).catch((error: unknown) => error);
    // Both requests reach the engine within this turn of the event loop; the first's evaluation needs a
    // decode on another thread, so on the next turn the second is still waiting for it.
    await new Promise((resolve) => setImmediate(resolve));
    expect(engine.stats().prefixWaits).toBe(1);
    controller.abort(new Error("test abort"));
    expect(await second).toMatchObject({ kind: "aborted" });
    expect(bodyOf(await first).usage.prompt_tokens_details.cached_tokens).toBe(0);
    expect(engine.stats()).toMatchObject({ busySequences: 0, prefixCopies: 0 });
    // The next request reads the prompt the first one evaluated (from its sequence, or copied).
    const third = bodyOf(await run("chat", chat(system, "third"))).usage;
    expect(third.prompt_tokens_details.cached_tokens).toBeGreaterThan(third.prompt_tokens - 15);
  }, 60_000);
});

describe("LlamaCppEngine KV reuse: routing and safety", () => {
  const billing = systemPrompt("billing");
  const shipping = systemPrompt("shipping");

  it("sends a request to the free sequence that already holds its prefix", async () => {
    const { engine, run } = startEngine(tinyPath, "routing", { sequences: 2 });
    const cached = async (system: string, user: string): Promise<Usage> => bodyOf(await run("chat", chat(system, user))).usage;
    const firstBilling = await cached(billing, "first");
    const firstShipping = await cached(shipping, "first");
    expect(firstBilling.prompt_tokens_details.cached_tokens).toBe(0);
    // Only the chat template's opening tokens are shared: the shipping prompt must not have evicted billing.
    expect(firstShipping.prompt_tokens_details.cached_tokens).toBe(0);
    // Least-recently-used order would give shipping the billing sequence; affinity must not.
    const secondShipping = await cached(shipping, "second");
    const secondBilling = await cached(billing, "second");
    for (const usage of [secondShipping, secondBilling]) {
      expect(usage.prompt_tokens_details.cached_tokens).toBeGreaterThan(usage.prompt_tokens - 15);
    }
    expect(engine.stats().peakBusySequences).toBe(1);
  });

  it("gives a released sequence to the queued request that shares its prefix", async () => {
    const { engine, run } = startEngine(tinyPath, "queue", { sequences: 1 });
    const bias = endTokenBias(TEST_MODEL_PRESETS.tiny.mergeCount);
    const holder = run("chat", chat(billing, "Write at length.", { max_tokens: 500, logit_bias: bias }));
    await waitFor(() => engine.stats().busySequences === 1, { what: "the long generation to start", intervalMs: 2 });
    const queued = [chat(shipping, "one"), chat(billing, "two"), chat(shipping, "three")].map((body) => run("chat", body));
    await waitFor(() => engine.stats().waitingRequests === 3, { what: "three queued requests", intervalMs: 2 });
    expect(engine.stats().busySequences).toBe(1);
    expect(bodyOf(await holder).usage.completion_tokens).toBe(500);
    const [shippingOne, billingTwo, shippingThree] = (await Promise.all(queued)).map((reply) => bodyOf(reply).usage);
    // billing jumped the queue onto the billing sequence; shipping one then evicted it, and three reused one.
    expect(billingTwo!.prompt_tokens_details.cached_tokens).toBeGreaterThan(billingTwo!.prompt_tokens - 15);
    expect(shippingOne!.prompt_tokens_details.cached_tokens).toBeLessThan(15);
    expect(shippingThree!.prompt_tokens_details.cached_tokens).toBeGreaterThan(shippingThree!.prompt_tokens - 15);
  }, 60_000);

  it("empties a sequence whose generation was aborted, so a half-evaluated state is never reused", async () => {
    const { engine, run } = startEngine(tinyPath, "abort", { sequences: 1 });
    await run("chat", chat(billing, "warm up"));
    expect(bodyOf(await run("chat", chat(billing, "again"))).usage.prompt_tokens_details.cached_tokens).toBeGreaterThan(0);
    const controller = new AbortController();
    const bias = endTokenBias(TEST_MODEL_PRESETS.tiny.mergeCount);
    const aborted = run("chat", chat(billing, "Write at length.", { max_tokens: 1500, logit_bias: bias }), controller.signal).catch((error: unknown) => error);
    await waitFor(() => engine.stats().busySequences === 1, { what: "the generation to start", intervalMs: 2 });
    controller.abort(new Error("test abort"));
    await aborted;
    const after = bodyOf(await run("chat", chat(billing, "after the abort"))).usage;
    expect(after.prompt_tokens_details.cached_tokens).toBe(0);
  }, 60_000);

  it("reuses a prefix when the sequence's history and the new prompt together exceed its context", async () => {
    const { run } = startEngine(tinyPath, "small-context", { sequences: 1, contextSize: 512 });
    const bias = endTokenBias(TEST_MODEL_PRESETS.tiny.mergeCount);
    const long = systemPrompt("billing", 10);
    const first = bodyOf(await run("chat", chat(long, "first", { max_tokens: 100, logit_bias: bias }))).usage;
    expect(first.prompt_tokens + first.completion_tokens).toBeGreaterThan(400);
    const second = bodyOf(await run("chat", chat(long, "second question, somewhat longer", { max_tokens: 60, logit_bias: bias })));
    expect(second.usage.completion_tokens).toBe(60);
    expect(second.usage.prompt_tokens + first.prompt_tokens + first.completion_tokens).toBeGreaterThan(512);
    expect(second.usage.prompt_tokens_details.cached_tokens).toBeGreaterThan(first.prompt_tokens - 15);
  }, 60_000);

  it("reports the reused tokens to Gemini clients as cachedContentTokenCount", async () => {
    const { engine } = startEngine(tinyPath, "gemini-client", { sequences: 1 });
    const gemini = withTranslation(engine);
    const model = { name: "gemini-client", engine: "llama-cpp" as const, path: tinyPath, concurrency: 1, timeoutMs: 60_000, maxRetries: 0 };
    const ask = async (text: string): Promise<Record<string, number>> => {
      const body = { systemInstruction: { parts: [{ text: billing }] }, contents: [{ role: "user", parts: [{ text }] }], generationConfig: { temperature: 0, maxOutputTokens: 4 } };
      const reply = await gemini.execute({ kind: "chat", dialect: "gemini", body, model, signal: new AbortController().signal });
      return (reply.body as { usageMetadata: Record<string, number> }).usageMetadata;
    };
    const first = await ask("first");
    const second = await ask("first");
    expect(first.cachedContentTokenCount).toBeUndefined();
    expect(second.promptTokenCount).toBe(first.promptTokenCount);
    expect(second.cachedContentTokenCount).toBeGreaterThan(first.promptTokenCount! - 15);
  });
});
