/**
 * (prefix) Prefix reuse.
 *
 * 1. KV reuse in the llama-cpp Engine, on the ~25M-parameter generated model: 200 chat Items, 8 distinct
 *    ~700-token system prompts shuffled through the batch, 16 output tokens at temperature 0, run through the
 *    Engine with KV reuse and with emptied sequences (`kvReuse: false`, the baseline). Items are issued like
 *    the Dispatcher issues them: in order, at most `concurrency` at once. Issued grouped by prefix (what
 *    prefix-ordered claiming gives) and shuffled (input order); shuffled also at a concurrency above the
 *    sequence count, where the Engine picks among waiting Items the one matching a freed sequence. The
 *    baseline's cost does not depend on order (it evaluates every prompt in full), so it runs once per
 *    workload, in input order. Then every Item with its own system prompt: reuse must not cost anything.
 *    `SPOOL_BENCH_FLASH_ATTENTION=false` (or true) sets the Model's `flashAttention` on both sides (default:
 *    unset, llama.cpp's choice), to see what it is worth for a decode-bound run (decision 0058).
 * 2. Prefix locality over two upstream URLs: an interleaved chat batch against two replicas of an upstream
 *    that models a prefix cache (prefix-cache-upstream.ts), routed by prefix hashing vs round-robin.
 */
import path from "node:path";
import type { LlamaCppModelConfig } from "../src/config/config.ts";
import { generateTestModel } from "../src/demo-model/generate-test-model.ts";
import { LlamaCppEngine } from "../src/engines/llama-cpp/llama-cpp-engine.ts";
import { benchPrefixLocality } from "./prefix-locality.ts";
import { promptText, shuffledPrefixes } from "./prefix-workload.ts";
import { ratio, row, timed, WORK_DIR } from "./lib.ts";

const ITEMS = Number(process.env.SPOOL_BENCH_PREFIX_ITEMS ?? 200);
const FLASH_ATTENTION = ((value) => (value === "true" ? true : value === "false" ? false : undefined))(process.env.SPOOL_BENCH_FLASH_ATTENTION);
const PREFIXES = 8;
const SEQUENCES = 4;
const MAX_TOKENS = 16;
/** About 700 tokens on the generated models' tokenizer. */
const SYSTEM_WORDS = 190;

interface Item {
  prefix: number;
  body: Record<string, unknown>;
}

interface Run {
  seconds: number;
  itemsPerSecond: number;
  /** Items per second of this process's CPU time: the engine's own work, steadier than wall time on a shared machine. */
  itemsPerCpuSecond: number;
  evaluated: number;
  reused: number;
  /** Prefixes copied from another sequence, and requests that waited for one to be evaluated (prefix-sharing.ts). */
  copies: number;
  waits: number;
  texts: string[];
  promptTokens: number;
}

function items(systemOf: (index: number) => { prefix: number; text: string }): Item[] {
  return Array.from({ length: ITEMS }, (_, index) => {
    const system = systemOf(index);
    return {
      prefix: system.prefix,
      body: {
        messages: [
          { role: "system", content: system.text },
          { role: "user", content: `Question ${index}: ${promptText(1000 + index, 8, "question")}?` },
        ],
        max_tokens: MAX_TOKENS,
        temperature: 0,
      },
    };
  });
}

/** Runs `list` in order with at most `concurrency` Items at once, on a fresh Engine (empty KV cache). */
async function runOnEngine(modelPath: string, list: Item[], kvReuse: boolean, concurrency: number): Promise<Run> {
  const model: LlamaCppModelConfig = { name: "bench-prefix", engine: "llama-cpp", path: modelPath, threads: 1, sequences: SEQUENCES, concurrency, timeoutMs: 600_000, maxRetries: 0, kvReuse, ...(FLASH_ATTENTION === undefined ? {} : { flashAttention: FLASH_ATTENTION }) };
  const engine = new LlamaCppEngine({ model, probe: false });
  try {
    await engine.warmup();
    const texts = new Array<string>(list.length);
    let promptTokens = 0;
    let next = 0;
    const cpuBefore = process.cpuUsage();
    const { ms } = await timed(() =>
      Promise.all(
        Array.from({ length: concurrency }, async () => {
          while (next < list.length) {
            const index = next++;
            const reply = await engine.execute({ kind: "chat", dialect: "openai", body: list[index]!.body, model, signal: new AbortController().signal });
            const body = reply.body as { choices: Array<{ message: { content: string } }> };
            texts[index] = body.choices[0]!.message.content;
            promptTokens += reply.usage.inputTokens;
          }
        }),
      ),
    );
    const cpu = process.cpuUsage(cpuBefore);
    const cpuSeconds = (cpu.user + cpu.system) / 1e6;
    const stats = engine.stats();
    return { seconds: ms / 1000, itemsPerSecond: list.length / (ms / 1000), itemsPerCpuSecond: list.length / cpuSeconds, evaluated: stats.promptTokensEvaluated, reused: stats.promptTokensReused, copies: stats.prefixCopies, waits: stats.prefixWaits, texts, promptTokens };
  } finally {
    await engine.close();
  }
}

function describeRun(run: Run): string {
  const share = run.reused / Math.max(1, run.reused + run.evaluated);
  return `${run.seconds.toFixed(1)} s, ${run.itemsPerCpuSecond.toFixed(2)} Items/CPU-s; prompt tokens evaluated ${run.evaluated.toLocaleString()}, reused ${run.reused.toLocaleString()} (${(share * 100).toFixed(0)}%)` + (run.copies + run.waits > 0 ? `; ${run.copies} prefixes copied between sequences, ${run.waits} waits` : "");
}

function sameTexts(run: Run, baseline: Run, order: number[]): string {
  const same = order.filter((original, position) => run.texts[position] === baseline.texts[original]).length;
  return `same text as emptied sequences: ${same}/${order.length}`;
}

async function benchKvReuse(): Promise<void> {
  const generated = await generateTestModel({ path: path.join(WORK_DIR, "models", "spool-bench-25m.gguf"), size: "bench-25m", seed: 1 });
  const systems = Array.from({ length: PREFIXES }, (_, prefix) => `Policy ${prefix}: ${promptText(prefix, SYSTEM_WORDS)}.`);
  const prefixOf = shuffledPrefixes(ITEMS, PREFIXES);
  const shared = items((index) => ({ prefix: prefixOf[index]!, text: systems[prefixOf[index]!]! }));
  const identity = shared.map((_, index) => index);
  const grouped = [...identity].sort((a, b) => shared[a]!.prefix - shared[b]!.prefix || a - b);
  const inOrder = (order: number[]): Item[] => order.map((index) => shared[index]!);

  console.log(`  -- ${ITEMS} Items, ${PREFIXES} shared system prompts shuffled through the batch, ${MAX_TOKENS} output tokens, temperature 0; ${SEQUENCES} sequences, 1 thread, flash attention ${FLASH_ATTENTION ?? "auto"}`);
  const baseline = await runOnEngine(generated.path, shared, false, SEQUENCES);
  row("emptied sequences (kvReuse: false), input order", `${baseline.itemsPerSecond.toFixed(2)} Items/s`, describeRun(baseline) + `; ${Math.round(baseline.promptTokens / ITEMS)} prompt tokens per Item`);
  const variants: Array<[string, number[], number]> = [
    [`KV reuse, grouped by prefix, concurrency ${SEQUENCES}`, grouped, SEQUENCES],
    [`KV reuse, input order, concurrency ${SEQUENCES}`, identity, SEQUENCES],
    [`KV reuse, input order, concurrency ${SEQUENCES * 4}`, identity, SEQUENCES * 4],
  ];
  for (const [label, order, concurrency] of variants) {
    const run = await runOnEngine(generated.path, inOrder(order), true, concurrency);
    row(label, `${run.itemsPerSecond.toFixed(2)} Items/s`, describeRun(run));
    const goal = order === grouped ? { min: 3 } : undefined;
    row(`  ratio to emptied sequences`, ratio(run.itemsPerSecond, baseline.itemsPerSecond, goal), `per CPU-second ${ratio(run.itemsPerCpuSecond, baseline.itemsPerCpuSecond, goal)}; ${sameTexts(run, baseline, order)}`);
  }

  console.log(`  -- the same with every Item its own system prompt (nothing to reuse but the chat template)`);
  const unique = items((index) => ({ prefix: index, text: `Policy ${100 + index}: ${promptText(100 + index, SYSTEM_WORDS)}.` }));
  const uniqueBaseline = await runOnEngine(generated.path, unique, false, SEQUENCES);
  const uniqueReuse = await runOnEngine(generated.path, unique, true, SEQUENCES);
  row("emptied sequences", `${uniqueBaseline.itemsPerSecond.toFixed(2)} Items/s`, describeRun(uniqueBaseline));
  row("KV reuse", `${uniqueReuse.itemsPerSecond.toFixed(2)} Items/s`, describeRun(uniqueReuse));
  const noRegression = { min: 0.95 };
  row(
    "  ratio to emptied sequences",
    ratio(uniqueReuse.itemsPerSecond, uniqueBaseline.itemsPerSecond, noRegression),
    `per CPU-second ${ratio(uniqueReuse.itemsPerCpuSecond, uniqueBaseline.itemsPerCpuSecond, noRegression)}; ${sameTexts(uniqueReuse, uniqueBaseline, identity)}`,
  );
}

export async function benchPrefix(): Promise<void> {
  console.log(`\n(prefix) Prefix reuse: KV reuse in the llama-cpp engine (25M model), prefix-hashed upstream URLs`);
  await benchKvReuse();
  await benchPrefixLocality();
}
