/**
 * (order) Prefix-aware claim order and duplicate reuse (issue 10), end to end through a spool process:
 *
 * 1. An interleaved-prefix chat batch (8 system prompts of ~700 tokens, line i using prompt i % 8) against
 *    an upstream that models a prefix cache, with prefix order vs input order (`worker.dispatchOrder`).
 * 2. The same with unrelated prompts (every line its own system prompt): prefix order must cost nothing;
 *    and the (b) benchmark's file (one short system prompt, unique questions) against an instant
 *    upstream, where spool's own cost shows: keys at validation and the arrangement at start.
 * 3. A batch with 30% duplicate lines at temperature 0, reuse (the default) vs `reuseResults: never`.
 *
 * Near-1 ratios are measured in alternating rounds (input, prefix, prefix, input), best of each side, so
 * neither side gains from running second on a shared, noisy machine.
 *
 * The prefix-cache upstream is the fake OpenAI upstream in this process with a delay per request: an LRU
 * of CACHE_ENTRIES system prompts; a request whose system prompt is cached (or being computed by an
 * earlier request, which it waits for) pays only for its own tokens, others for the whole prompt, at
 * MS_PER_TOKEN, plus a fixed DECODE_MS for the answer. That is how vLLM / SGLang automatic prefix caching
 * behaves with fewer cache slots than live prefixes: in input order every request evicts the prefix the
 * next one needs.
 */
import { mkdtempSync, writeFileSync } from "node:fs";
import path from "node:path";
import { startFakeOpenAIUpstream, type FaultRule } from "../test/helpers/fake-openai-upstream.ts";
import { chatLine, interleavedPrefixFile } from "../test/helpers/batch-files.ts";
import { runSpoolBatch, writeBenchConfig } from "./end-to-end.ts";
import { ensureChatFile, ratio, row, workPath, WORK_DIR } from "./lib.ts";
import { startSpool } from "./processes.ts";

const CONCURRENCY = 8;
const PREFIXES = 8;
const CACHE_ENTRIES = 4;
const SYSTEM_CHARS = 2_800;
const MS_PER_TOKEN = 0.1;
const DECODE_MS = 5;
const ITEMS = 1_200;
const UNRELATED_ITEMS = 400;
const INSTANT_ITEMS = 20_000;
const DUPLICATE_ITEMS = 2_000;
const DUPLICATE_LATENCY_MS = 20;

const tokens = (text: string): number => Math.ceil(text.length / 4);

interface CacheStats {
  requests: number;
  hits: number;
}

/** The prefix-cache delay rule, and its hit counts (reset per run with the cache). */
function prefixCacheModel(): { rule: FaultRule; stats: CacheStats; reset(): void } {
  // System prompt -> time its prefill is done; Map order is LRU order (oldest first).
  const cache = new Map<string, number>();
  const stats: CacheStats = { requests: 0, hits: 0 };
  const rule: FaultRule = ({ body }) => {
    const messages = Array.isArray(body.messages) ? (body.messages as { role?: string; content?: unknown }[]) : [];
    const system = messages[0]?.role === "system" && typeof messages[0].content === "string" ? messages[0].content : "";
    const own = messages.slice(system === "" ? 0 : 1).reduce((sum, message) => sum + tokens(String(message.content ?? "")), 0);
    const now = performance.now();
    stats.requests += 1;
    let delayMs = DECODE_MS + own * MS_PER_TOKEN;
    const readyAt = cache.get(system);
    if (system !== "" && readyAt !== undefined) {
      stats.hits += 1;
      cache.delete(system);
      cache.set(system, readyAt);
      delayMs += Math.max(0, readyAt - now);
    } else if (system !== "") {
      const prefillMs = tokens(system) * MS_PER_TOKEN;
      delayMs += prefillMs;
      cache.set(system, now + prefillMs);
      if (cache.size > CACHE_ENTRIES) cache.delete(cache.keys().next().value as string);
    }
    return { delayMs };
  };
  return {
    rule,
    stats,
    reset() {
      cache.clear();
      stats.requests = 0;
      stats.hits = 0;
    },
  };
}

async function runOnce(upstreamUrl: string, file: string, count: number, config: { dispatchOrder?: "prefix" | "input"; reuseResults?: "never" }): Promise<number> {
  const dir = mkdtempSync(path.join(WORK_DIR, "order-"));
  const model = { name: "gpt-bench", engine: "openai", baseUrl: upstreamUrl, concurrency: CONCURRENCY, ...(config.reuseResults ? { reuseResults: config.reuseResults } : {}) };
  const spool = await startSpool("serve", writeBenchConfig(dir, { models: [model], worker: { dispatchOrder: config.dispatchOrder ?? "prefix" } }));
  try {
    return (await runSpoolBatch(spool.url, file, count)).rate;
  } finally {
    await spool.stop();
  }
}

function writeFile(name: string, content: string): string {
  const file = workPath(name);
  writeFileSync(file, content);
  return file;
}

/** `count` lines at temperature 0 of which 30% repeat an earlier line's request (under their own id). */
function duplicatesFile(count: number): { content: string; unique: number } {
  const texts = Array.from({ length: count }, (_, i) => (i % 10 < 7 ? `question ${i}` : `question ${i - (i % 10)}`));
  const content = texts.map((text, i) => chatLine(`req-${i}`, text, "gpt-bench", { temperature: 0 })).join("\n");
  return { content: `${content}\n`, unique: new Set(texts).size };
}

export async function benchOrder(): Promise<void> {
  console.log(
    `\n(order) Prefix-aware claim order and duplicate reuse: concurrency ${CONCURRENCY}, upstream prefix cache of ${CACHE_ENTRIES} prompts, ` +
      `${MS_PER_TOKEN} ms per uncached prompt token, ${DECODE_MS} ms per answer`,
  );
  const upstream = await startFakeOpenAIUpstream();
  const inferenceCalls = (): number => [...upstream.countsByKey.values()].reduce((sum, count) => sum + count, 0);
  const model = prefixCacheModel();
  upstream.setFault(model.rule);
  try {
    const interleaved = writeFile(`order-interleaved-${ITEMS}.jsonl`, interleavedPrefixFile(ITEMS, { prefixes: PREFIXES, systemChars: SYSTEM_CHARS, model: "gpt-bench" }));
    const measure = async (file: string, count: number, dispatchOrder: "prefix" | "input"): Promise<{ rate: number; hitRate: number }> => {
      model.reset();
      const rate = await runOnce(upstream.url, file, count, { dispatchOrder });
      return { rate, hitRate: model.stats.hits / Math.max(1, model.stats.requests) };
    };
    const percent = (value: number): string => `${(value * 100).toFixed(1)}% cache hits`;
    console.log(` ${ITEMS.toLocaleString()} chat Items, ${PREFIXES} system prompts of ~${tokens("x".repeat(SYSTEM_CHARS))} tokens, interleaved`);
    const input = await measure(interleaved, ITEMS, "input");
    row("input order (worker.dispatchOrder: input)", `${Math.round(input.rate).toLocaleString()} Items/s`, percent(input.hitRate));
    const prefix = await measure(interleaved, ITEMS, "prefix");
    row("prefix order (default)", `${Math.round(prefix.rate).toLocaleString()} Items/s`, percent(prefix.hitRate));
    row("Items/s ratio prefix/input", ratio(prefix.rate, input.rate, { min: 2 }));

    /** Best of two alternating rounds per side, for ratios near 1. */
    const alternating = async (file: string, count: number): Promise<{ input: number; prefix: number; hitRate: number }> => {
      const first = await measure(file, count, "input");
      const second = await measure(file, count, "prefix");
      const third = await measure(file, count, "prefix");
      const fourth = await measure(file, count, "input");
      return { input: Math.max(first.rate, fourth.rate), prefix: Math.max(second.rate, third.rate), hitRate: Math.max(second.hitRate, third.hitRate) };
    };
    const unrelated = writeFile(`order-unrelated-${UNRELATED_ITEMS}.jsonl`, interleavedPrefixFile(UNRELATED_ITEMS, { prefixes: UNRELATED_ITEMS, systemChars: SYSTEM_CHARS, model: "gpt-bench" }));
    console.log(` ${UNRELATED_ITEMS.toLocaleString()} chat Items, every one its own system prompt (best of 2 alternating rounds)`);
    const apart = await alternating(unrelated, UNRELATED_ITEMS);
    row("input order", `${Math.round(apart.input).toLocaleString()} Items/s`);
    row("prefix order", `${Math.round(apart.prefix).toLocaleString()} Items/s`, percent(apart.hitRate));
    row("Items/s ratio prefix/input", ratio(apart.prefix, apart.input, { min: 0.95 }));

    upstream.setFault(null);
    const instant = workPath(`chat-${INSTANT_ITEMS}.jsonl`);
    await ensureChatFile(instant, INSTANT_ITEMS, "gpt-bench");
    console.log(` ${INSTANT_ITEMS.toLocaleString()} chat Items of the (b) benchmark, instant upstream: spool's own cost (best of 2 alternating rounds)`);
    const own = await alternating(instant, INSTANT_ITEMS);
    row("input order", `${Math.round(own.input).toLocaleString()} Items/s`);
    row("prefix order", `${Math.round(own.prefix).toLocaleString()} Items/s`);
    row("Items/s ratio prefix/input", ratio(own.prefix, own.input, { min: 0.95 }));

    upstream.setFault(() => ({ delayMs: DUPLICATE_LATENCY_MS }));
    const duplicates = duplicatesFile(DUPLICATE_ITEMS);
    const duplicateFile = writeFile(`order-duplicates-${DUPLICATE_ITEMS}.jsonl`, duplicates.content);
    console.log(` ${DUPLICATE_ITEMS.toLocaleString()} chat Items at temperature 0, 30% duplicates (${duplicates.unique.toLocaleString()} unique), ${DUPLICATE_LATENCY_MS} ms upstream`);
    upstream.resetCounts();
    const noReuse = await runOnce(upstream.url, duplicateFile, DUPLICATE_ITEMS, { reuseResults: "never" });
    const noReuseCalls = inferenceCalls();
    row("no reuse (reuseResults: never)", `${Math.round(noReuse).toLocaleString()} Items/s`, `${noReuseCalls.toLocaleString()} upstream calls`);
    upstream.resetCounts();
    const reuse = await runOnce(upstream.url, duplicateFile, DUPLICATE_ITEMS, {});
    const reuseCalls = inferenceCalls();
    const verdict = reuseCalls === duplicates.unique ? "(= unique requests: met)" : `(goal ${duplicates.unique}: NOT met)`;
    row("reuse (default)", `${Math.round(reuse).toLocaleString()} Items/s`, `${reuseCalls.toLocaleString()} upstream calls ${verdict}`);
    row("Items/s ratio reuse/no reuse", ratio(reuse, noReuse));
  } finally {
    await upstream.close();
  }
}
