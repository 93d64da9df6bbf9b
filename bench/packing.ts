/**
 * (packing) Embedding packing: a batch of single-input embedding Items through a real spool process, with
 * packing on (the default `embeddingPack`, up to 64 inputs a call) vs off (`maxItems: 1`, one call per
 * Item, today's behaviour before packing), in the same spool process and the same run:
 * - against the instant fake OpenAI upstream in its own process (goal: >= 5x Items/s), also with vectors of
 *   real size (1,536 floats; no goal: it shows what packing is worth when results are large), and
 * - on the llama-cpp engine with the generated tiny model (goal: >= 2x Items/s).
 * Two figures per setting: create -> completed (what a client waits for; validation and the output file
 * cost the same packed or not) and the rate while the Items run (where packing acts). Rounds alternate
 * between the two settings and the best of each is compared (the machine is shared).
 */
import { createReadStream, existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import path from "node:path";
import OpenAI from "openai";
import { generateTestModel } from "../src/demo-model/generate-test-model.ts";
import { writeBenchConfig } from "./end-to-end.ts";
import { loadNote, ratio, row, timed, workPath, WORK_DIR } from "./lib.ts";
import { cpuMsOf, startSpool, startUpstream, type Peer } from "./processes.ts";

const ITEMS = 20_000;
/** The tiny model embeds a few hundred inputs a second on one thread: fewer Items keep the section short. */
const LLAMA_ITEMS = 4_000;
const ROUNDS = 2;
/** Real embedding models' vectors (OpenAI text-embedding-3-small): fewer Items, each ~30 KB of result. */
const LARGE_DIMENSIONS = 1_536;
const LARGE_ITEMS = 5_000;
const UPSTREAM_CONCURRENCY = 64;

function embeddingText(index: number): string {
  return `Item ${index}: spool packs single-input embedding requests of one model into shared engine calls (${index % 97}).`;
}

/** One input file per model name (and vector size asked for), written once and reused across runs. */
function ensureEmbeddingFile(model: string, count: number, dimensions?: number): string {
  const file = workPath(`embeddings-${model}-${count}${dimensions ? `-d${dimensions}` : ""}.jsonl`);
  if (existsSync(file)) return file;
  const lines: string[] = [];
  for (let i = 0; i < count; i += 1) {
    const body = { model, input: embeddingText(i), ...(dimensions ? { dimensions } : {}) };
    lines.push(JSON.stringify({ custom_id: `e-${i}`, method: "POST", url: "/v1/embeddings", body }));
  }
  writeFileSync(file, `${lines.join("\n")}\n`);
  return file;
}

interface Rates {
  /** Items per second from batch create to completed (validation, dispatch and the output file). */
  endToEnd: number;
  /** Items per second while the Items ran: from in_progress seen to every Item counted (25 ms polls). */
  dispatch: number;
  /** spool's CPU (all its threads) per Item, create -> completed, in µs: what a faster upstream would leave. */
  cpuUs: number;
}

async function runEmbeddingBatch(spool: Peer, client: OpenAI, file: string, count: number): Promise<Rates> {
  const uploaded = await client.files.create({ file: createReadStream(file), purpose: "batch" });
  const cpuBefore = cpuMsOf(spool.child) ?? 0;
  let startedMs: number | null = null;
  let ranMs: number | null = null;
  const { ms, value: batch } = await timed(async () => {
    const created = await client.batches.create({ input_file_id: uploaded.id, endpoint: "/v1/embeddings", completion_window: "24h" });
    for (;;) {
      const current = await client.batches.retrieve(created.id);
      const now = performance.now();
      if (startedMs === null && current.status !== "validating") startedMs = now;
      if (ranMs === null && (current.request_counts?.completed ?? 0) + (current.request_counts?.failed ?? 0) >= count) ranMs = now;
      if (["completed", "failed", "expired", "cancelled"].includes(current.status)) return current;
      await new Promise((resolve) => setTimeout(resolve, 25));
    }
  });
  if (batch.status !== "completed" || batch.request_counts?.completed !== count) {
    throw new Error(`packing bench batch ended ${batch.status} with ${JSON.stringify(batch.request_counts)} ${JSON.stringify(batch.errors)}`);
  }
  const dispatchMs = Math.max(1, (ranMs ?? 0) - (startedMs ?? 0));
  const cpuUs = (((cpuMsOf(spool.child) ?? 0) - cpuBefore) * 1000) / count;
  return { endToEnd: count / (ms / 1000), dispatch: count / (dispatchMs / 1000), cpuUs };
}

interface Setting {
  label: string;
  model: string;
}

/** Alternating rounds of `packed` and `unpacked` batches on one spool; prints the best of each and the ratios. */
async function compare(title: string, configPath: string, items: number, packed: Setting, unpacked: Setting, goal?: number, dimensions?: number): Promise<void> {
  const spool = await startSpool("serve", configPath);
  try {
    const client = new OpenAI({ apiKey: "bench", baseURL: `${spool.url}/v1`, maxRetries: 0, timeout: 600_000 });
    // Warm-up (engine load, connections, JIT) on a small batch of each, not timed.
    for (const setting of [packed, unpacked]) await runEmbeddingBatch(spool, client, ensureEmbeddingFile(setting.model, 200, dimensions), 200);
    const runs = new Map<string, Rates[]>([[packed.label, []], [unpacked.label, []]]);
    for (let round = 0; round < ROUNDS; round += 1) {
      for (const setting of [unpacked, packed]) runs.get(setting.label)!.push(await runEmbeddingBatch(spool, client, ensureEmbeddingFile(setting.model, items, dimensions), items));
    }
    const best = (label: string, pick: keyof Rates): number => Math.max(...runs.get(label)!.map((rates) => rates[pick]));
    const rounds = (label: string, pick: keyof Rates): string => runs.get(label)!.map((rates) => Math.round(rates[pick]).toLocaleString()).join(", ");
    for (const setting of [unpacked, packed]) {
      const e2e = best(setting.label, "endToEnd");
      const cpu = Math.min(...runs.get(setting.label)!.map((rates) => rates.cpuUs));
      row(`${title}: ${setting.label}`, `${Math.round(e2e).toLocaleString()} items/s`, `create -> completed (rounds: ${rounds(setting.label, "endToEnd")}); while running: ${Math.round(best(setting.label, "dispatch")).toLocaleString()} items/s (rounds: ${rounds(setting.label, "dispatch")}); spool CPU ${Math.round(cpu)} µs/Item (least)`);
    }
    const goalOf = goal === undefined ? undefined : { min: goal };
    row(`${title}: packed/one call per Item, create -> completed`, ratio(best(packed.label, "endToEnd"), best(unpacked.label, "endToEnd"), goalOf));
    row(`${title}: packed/one call per Item, while running`, ratio(best(packed.label, "dispatch"), best(unpacked.label, "dispatch"), goalOf));
  } finally {
    await spool.stop();
  }
}

export async function benchPacking(): Promise<void> {
  console.log(
    `\n(packing) Single-input embedding Items through spool (${ITEMS.toLocaleString()} on the instant upstream, ${LLAMA_ITEMS.toLocaleString()} on llama-cpp), ` +
      `packed (up to 64 a call) vs one call per Item; best of ${ROUNDS} alternating rounds`,
  );
  const packed = { label: "packed (embeddingPack default)", model: "embed-packed" };
  const unpacked = { label: "one call per Item (maxItems: 1)", model: "embed-unpacked" };
  // SPOOL_BENCH_PACKING=llama (or =upstream) runs one half only, while iterating on it.
  const only = process.env.SPOOL_BENCH_PACKING;
  if (only !== "llama") await benchPackingUpstream(packed, unpacked);
  if (only !== "upstream") await benchPackingLlama(packed, unpacked);
}

async function benchPackingUpstream(packed: Setting, unpacked: Setting): Promise<void> {
  const upstream = await startUpstream(0);
  const httpDir = mkdtempSync(workPath("packing-http-"));
  try {
    const configPath = writeBenchConfig(httpDir, {
      models: [
        { name: packed.model, engine: "openai", baseUrl: upstream.url, concurrency: UPSTREAM_CONCURRENCY },
        { name: unpacked.model, engine: "openai", baseUrl: upstream.url, concurrency: UPSTREAM_CONCURRENCY, embeddingPack: { maxItems: 1 } },
      ],
    });
    await compare("instant upstream", configPath, ITEMS, packed, unpacked, 5);
    // The fake upstream's default vectors are 8 floats; real models return hundreds to thousands, where
    // parsing and storing the vectors, not calls, is most of an Item's cost (decision 0034).
    await compare(`instant upstream, ${LARGE_DIMENSIONS.toLocaleString()}-float vectors`, configPath, LARGE_ITEMS, packed, unpacked, undefined, LARGE_DIMENSIONS);
  } finally {
    await upstream.stop();
    rmSync(httpDir, { recursive: true, force: true });
  }
}

async function benchPackingLlama(packed: Setting, unpacked: Setting): Promise<void> {
  // The decode thread is the bottleneck here (decision 0026): other load on the machine moves both rows.
  console.log(`  llama-cpp half: ${loadNote()}`);
  const tiny = await generateTestModel({ path: path.join(WORK_DIR, "models", "spool-tiny.gguf"), size: "tiny", seed: 1 });
  const llamaDir = mkdtempSync(workPath("packing-llama-"));
  try {
    const local = { engine: "llama-cpp", path: tiny.path, threads: 1, sequences: 4, concurrency: 4, embeddings: true };
    const configPath = writeBenchConfig(llamaDir, {
      models: [
        { name: packed.model, ...local },
        { name: unpacked.model, ...local, embeddingPack: { maxItems: 1 } },
      ],
    });
    await compare("llama-cpp tiny model", configPath, LLAMA_ITEMS, packed, unpacked, 2);
  } finally {
    rmSync(llamaDir, { recursive: true, force: true });
  }
}
