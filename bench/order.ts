/**
 * (order) Prefix-aware claim order and duplicate reuse (issue 10), end to end through a spool process:
 *
 * 1. An interleaved-prefix chat batch (8 system prompts of ~700 tokens, line i using prompt i % 8) against
 *    an upstream that models a prefix cache, with prefix order vs input order (`worker.dispatchOrder`).
 * 2. The same with unrelated prompts (every line its own system prompt): prefix order must cost nothing;
 *    and the (b) benchmark's file (one short system prompt, unique questions) against an instant
 *    upstream, where spool's own cost shows: keys at validation and the arrangement at start.
 * 3. A batch with 30% duplicate lines at temperature 0, reuse (the default) vs `reuseResults: never`.
 * 4. The result cache across Batches (`resultCache`): a file, then the same file with 3 lines changed, on
 *    one spool: the second run's upstream calls and Items/s against the first's.
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
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import path from "node:path";
import { startFakeOpenAIUpstream, type FakeOpenAIUpstream, type FaultRule } from "../test/helpers/fake-openai-upstream.ts";
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

interface Run {
  rate: number;
  /** CPU time the spool process spent per Item (user + system, from /proc), or null off Linux. */
  cpuMsPerItem: number | null;
}

async function runOnce(upstreamUrl: string, file: string, count: number, config: { dispatchOrder?: "prefix" | "input"; reuseResults?: "never" }): Promise<Run> {
  const dir = mkdtempSync(path.join(WORK_DIR, "order-"));
  const model = { name: "gpt-bench", engine: "openai", baseUrl: upstreamUrl, concurrency: CONCURRENCY, ...(config.reuseResults ? { reuseResults: config.reuseResults } : {}) };
  const spool = await startSpool("serve", writeBenchConfig(dir, { models: [model], worker: { dispatchOrder: config.dispatchOrder ?? "prefix" } }));
  try {
    const before = cpuMs(spool.child.pid);
    const { rate } = await runSpoolBatch(spool.url, file, count);
    const after = cpuMs(spool.child.pid);
    return { rate, cpuMsPerItem: before === null || after === null ? null : (after - before) / count };
  } finally {
    await spool.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * CPU milliseconds a process has used (utime + stime in /proc/<pid>/stat, in clock ticks of 10 ms). On a
 * shared machine wall-clock rates swing by a third between runs; the CPU a run cost spool swings far less.
 */
function cpuMs(pid: number | undefined): number | null {
  if (pid === undefined) return null;
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]?.split(" ") ?? [];
    return (Number(fields[11]) + Number(fields[12])) * 10;
  } catch {
    return null;
  }
}

function writeFile(name: string, content: string): string {
  const file = workPath(name);
  writeFileSync(file, content);
  return file;
}

type Measured = Run & { hitRate: number };

/** The best rate of several runs, with the smallest CPU per Item among them (each side's least disturbed). */
function best(runs: readonly Measured[]): Measured {
  const fastest = runs.reduce((a, b) => (b.rate > a.rate ? b : a));
  const cpus = runs.map((run) => run.cpuMsPerItem).filter((cpu): cpu is number => cpu !== null);
  return { ...fastest, cpuMsPerItem: cpus.length > 0 ? Math.min(...cpus) : null };
}

/** `count` lines at temperature 0 of which 30% repeat an earlier line's request (under their own id). */
function duplicatesFile(count: number): { content: string; unique: number } {
  const texts = Array.from({ length: count }, (_, i) => (i % 10 < 7 ? `question ${i}` : `question ${i - (i % 10)}`));
  const content = texts.map((text, i) => chatLine(`req-${i}`, text, "gpt-bench", { temperature: 0 })).join("\n");
  return { content: `${content}\n`, unique: new Set(texts).size };
}

/** Runs of one file in one order against the prefix-cache upstream, with the cache hit rate. */
class OrderRunner {
  constructor(
    private readonly upstreamUrl: string,
    private readonly cache: ReturnType<typeof prefixCacheModel>,
  ) {}

  async measure(file: string, count: number, dispatchOrder: "prefix" | "input"): Promise<Measured> {
    this.cache.reset();
    const run = await runOnce(this.upstreamUrl, file, count, { dispatchOrder });
    return { ...run, hitRate: this.cache.stats.hits / Math.max(1, this.cache.stats.requests) };
  }

  /** Best of `rounds` alternating rounds per side (input, prefix, then prefix, input, ...), for ratios near 1. */
  async alternating(file: string, count: number, rounds: number): Promise<{ input: Measured; prefix: Measured }> {
    const runs = { input: [] as Measured[], prefix: [] as Measured[] };
    for (let round = 0; round < rounds; round += 1) {
      const sides: ("input" | "prefix")[] = round % 2 === 0 ? ["input", "prefix"] : ["prefix", "input"];
      for (const side of sides) runs[side].push(await this.measure(file, count, side));
    }
    return { input: best(runs.input), prefix: best(runs.prefix) };
  }
}

const rate = (run: Run): string => `${Math.round(run.rate).toLocaleString()} Items/s`;
const hits = (run: Measured): string => `${(run.hitRate * 100).toFixed(1)}% cache hits`;
const cpu = (run: Run): string => (run.cpuMsPerItem === null ? "" : `${(run.cpuMsPerItem * 1000).toFixed(0)} µs spool CPU per Item`);

async function benchInterleaved(runner: OrderRunner): Promise<void> {
  const file = writeFile(`order-interleaved-${ITEMS}.jsonl`, interleavedPrefixFile(ITEMS, { prefixes: PREFIXES, systemChars: SYSTEM_CHARS, model: "gpt-bench" }));
  console.log(` ${ITEMS.toLocaleString()} chat Items, ${PREFIXES} system prompts of ~${tokens("x".repeat(SYSTEM_CHARS))} tokens, interleaved`);
  const input = await runner.measure(file, ITEMS, "input");
  row("input order (worker.dispatchOrder: input)", rate(input), hits(input));
  const prefix = await runner.measure(file, ITEMS, "prefix");
  row("prefix order (default)", rate(prefix), hits(prefix));
  row("Items/s ratio prefix/input", ratio(prefix.rate, input.rate, { min: 2 }));
}

async function benchUnrelated(runner: OrderRunner): Promise<void> {
  const file = writeFile(`order-unrelated-${UNRELATED_ITEMS}.jsonl`, interleavedPrefixFile(UNRELATED_ITEMS, { prefixes: UNRELATED_ITEMS, systemChars: SYSTEM_CHARS, model: "gpt-bench" }));
  console.log(` ${UNRELATED_ITEMS.toLocaleString()} chat Items, every one its own system prompt (best of 2 alternating rounds)`);
  const { input, prefix } = await runner.alternating(file, UNRELATED_ITEMS, 2);
  row("input order", rate(input));
  row("prefix order", rate(prefix), hits(prefix));
  row("Items/s ratio prefix/input", ratio(prefix.rate, input.rate, { min: 0.95 }));
}

/** Against an instant upstream (no fault rule set), where spool's own cost is all there is. */
async function benchSpoolCost(runner: OrderRunner): Promise<void> {
  const file = workPath(`chat-${INSTANT_ITEMS}.jsonl`);
  await ensureChatFile(file, INSTANT_ITEMS, "gpt-bench");
  console.log(` ${INSTANT_ITEMS.toLocaleString()} chat Items of the (b) benchmark, instant upstream: spool's own cost (best of 3 alternating rounds)`);
  const { input, prefix } = await runner.alternating(file, INSTANT_ITEMS, 3);
  row("input order", rate(input), cpu(input));
  row("prefix order", rate(prefix), cpu(prefix));
  row("Items/s ratio prefix/input", ratio(prefix.rate, input.rate, { min: 0.95 }));
  if (input.cpuMsPerItem !== null && prefix.cpuMsPerItem !== null) row("spool CPU per Item ratio prefix/input", ratio(prefix.cpuMsPerItem, input.cpuMsPerItem, { max: 1.05 }));
}

async function benchDuplicates(upstream: FakeOpenAIUpstream): Promise<void> {
  const inferenceCalls = (): number => [...upstream.countsByKey.values()].reduce((sum, count) => sum + count, 0);
  const duplicates = duplicatesFile(DUPLICATE_ITEMS);
  const file = writeFile(`order-duplicates-${DUPLICATE_ITEMS}.jsonl`, duplicates.content);
  console.log(` ${DUPLICATE_ITEMS.toLocaleString()} chat Items at temperature 0, 30% duplicates (${duplicates.unique.toLocaleString()} unique), ${DUPLICATE_LATENCY_MS} ms upstream`);
  upstream.resetCounts();
  const noReuse = await runOnce(upstream.url, file, DUPLICATE_ITEMS, { reuseResults: "never" });
  row("no reuse (reuseResults: never)", rate(noReuse), `${inferenceCalls().toLocaleString()} upstream calls`);
  upstream.resetCounts();
  const reuse = await runOnce(upstream.url, file, DUPLICATE_ITEMS, {});
  const calls = inferenceCalls();
  const verdict = calls === duplicates.unique ? "(= unique requests: met)" : `(goal ${duplicates.unique}: NOT met)`;
  row("reuse (default)", rate(reuse), `${calls.toLocaleString()} upstream calls ${verdict}`);
  row("Items/s ratio reuse/no reuse", ratio(reuse.rate, noReuse.rate));
}

/** 10% of chat lines changed between runs is a lot for an edit; 3 lines is the issue's example. */
const RESUBMIT_ITEMS = 2_000;
const RESUBMIT_CHANGED = [17, 1_000, 1_999];

async function benchResubmit(upstream: FakeOpenAIUpstream): Promise<void> {
  const inferenceCalls = (): number => [...upstream.countsByKey.values()].reduce((sum, count) => sum + count, 0);
  const texts = Array.from({ length: RESUBMIT_ITEMS }, (_, i) => `resubmitted question ${i}`);
  const fileOf = (name: string, lines: readonly string[]): string =>
    writeFile(name, `${lines.map((text, i) => chatLine(`req-${i}`, text, "gpt-bench", { temperature: 0 })).join("\n")}\n`);
  const first = fileOf(`order-resubmit-${RESUBMIT_ITEMS}.jsonl`, texts);
  const edited = fileOf(`order-resubmit-${RESUBMIT_ITEMS}-edited.jsonl`, texts.map((text, i) => (RESUBMIT_CHANGED.includes(i) ? `${text}, reworded` : text)));
  console.log(` ${RESUBMIT_ITEMS.toLocaleString()} chat Items at temperature 0, then the same file with ${RESUBMIT_CHANGED.length} lines changed, resultCache on, ${DUPLICATE_LATENCY_MS} ms upstream`);
  const dir = mkdtempSync(path.join(WORK_DIR, "order-resubmit-"));
  const model = { name: "gpt-bench", engine: "openai", baseUrl: upstream.url, concurrency: CONCURRENCY, resultCache: true };
  const spool = await startSpool("serve", writeBenchConfig(dir, { models: [model] }));
  try {
    upstream.resetCounts();
    const run1 = await runSpoolBatch(spool.url, first, RESUBMIT_ITEMS);
    row("first submission", `${Math.round(run1.rate).toLocaleString()} Items/s`, `${inferenceCalls().toLocaleString()} upstream calls`);
    upstream.resetCounts();
    const run2 = await runSpoolBatch(spool.url, edited, RESUBMIT_ITEMS);
    const calls = inferenceCalls();
    const verdict = calls === RESUBMIT_CHANGED.length ? "(= changed lines: met)" : `(goal ${RESUBMIT_CHANGED.length}: NOT met)`;
    row("re-submitted with 3 lines changed", `${Math.round(run2.rate).toLocaleString()} Items/s`, `${calls.toLocaleString()} upstream calls ${verdict}`);
    row("Items/s ratio re-submission/first", ratio(run2.rate, run1.rate));
  } finally {
    await spool.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

export async function benchOrder(): Promise<void> {
  console.log(
    `\n(order) Prefix-aware claim order and duplicate reuse: concurrency ${CONCURRENCY}, upstream prefix cache of ${CACHE_ENTRIES} prompts, ` +
      `${MS_PER_TOKEN} ms per uncached prompt token, ${DECODE_MS} ms per answer`,
  );
  const upstream = await startFakeOpenAIUpstream();
  const cache = prefixCacheModel();
  const runner = new OrderRunner(upstream.url, cache);
  try {
    upstream.setFault(cache.rule);
    await benchInterleaved(runner);
    await benchUnrelated(runner);
    upstream.setFault(null);
    await benchSpoolCost(runner);
    upstream.setFault(() => ({ delayMs: DUPLICATE_LATENCY_MS }));
    await benchDuplicates(upstream);
    await benchResubmit(upstream);
  } finally {
    await upstream.close();
  }
}
