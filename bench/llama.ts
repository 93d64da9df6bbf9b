/**
 * (llama) Local inference throughput: N chat requests as one batch through a real spool process whose model is
 * `engine: llama-cpp`, vs a direct node-llama-cpp loop doing the same work in this process (same model file,
 * 1 thread, one context with S parallel sequences, same prompts, seeds, temperature and max tokens), for the
 * tiny and the ~25M-parameter generated models.
 *
 * Like the engine, the baseline uses LlamaChat with the model's chat wrapper and starts every request from an
 * emptied sequence (no prefix reuse: the engine runs with `kvReuse: false`, so both sides evaluate every
 * prompt in full; the prefix section measures reuse). Random-weight models may emit
 * their end token early and the engine has no `ignore_eos`; the OpenAI way to get the same effect is
 * `logit_bias: {<end token>: -100}` (the engine maps it to TokenBias "never"), so both sides ban the end
 * tokens and every request generates exactly `max_tokens` tokens. Tokens are counted by node-llama-cpp on
 * both sides (sequence TokenMeter in the baseline; the engine reports the same meter as `completion_tokens`).
 *
 * Both sides are warmed first (model loaded, S requests run) and the timed part is steady state: the baseline's
 * generation loop, and spool's batch create -> completed (input parsing, dispatch, output writing included).
 * spool's cold first batch (probe child + model load) is printed separately.
 *
 * The bench learns that a batch completed from spool's `batch.completed` webhook, not by polling: a poll every
 * 20 ms (what a 2 s batch needs for a fair figure) cost the bench process ~250 ms of CPU per round on the same
 * two cores spool and the baseline run on, which the baseline never pays. The webhook arrives within a few ms.
 */
import { createReadStream, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import path from "node:path";
import { getLlama, LlamaChat, LlamaLogLevel, resolveChatWrapper, TokenBias, type ChatHistoryItem, type Llama, type Token } from "node-llama-cpp";
import OpenAI from "openai";
import { generateTestModel, type TestModelSize } from "../src/demo-model/generate-test-model.ts";
import { writeBenchConfig } from "./end-to-end.ts";
import { ratio, row, timed, WORK_DIR } from "./lib.ts";
import { startSpool } from "./processes.ts";
import { startWebhookReceiver } from "../test/helpers/webhook-receiver.ts";

const SEQUENCES = 4;
const THREADS = 1;
const MAX_TOKENS = 32;
const TEMPERATURE = 0.8;
const BASE_SEED = 1234;
/** The engine's default context: min(train context, 4096). */
const MAX_CONTEXT = 4096;
/** Alternating baseline/spool rounds per model; the best of each side is compared. */
const ROUNDS = 3;

interface Case {
  size: TestModelSize;
  label: string;
  requests: number;
}

const CASES: Case[] = [
  { size: "tiny", label: "tiny", requests: 200 },
  { size: "bench-25m", label: "25M", requests: 40 },
];

interface BenchRequest {
  system: string;
  user: string;
  seed: number;
}

interface Throughput {
  completionTokens: number;
  seconds: number;
  tokensPerSecond: number;
  /** Requests that stopped at max_tokens. */
  atMaxTokens: number;
  texts: string[];
}

function benchRequests(count: number): BenchRequest[] {
  return Array.from({ length: count }, (_, index) => ({
    system: "You are a terse assistant.",
    user: `Question ${index}: summarise the batch API in one sentence, mentioning item ${index % 17} and window ${index % 5}.`,
    seed: BASE_SEED + index,
  }));
}

function history(request: BenchRequest): ChatHistoryItem[] {
  return [
    { type: "system", text: request.system },
    { type: "user", text: request.user },
    { type: "model", response: [] },
  ];
}

/** End-of-generation tokens of the model (its EOS and the ChatML/GPT-2 end tokens), to ban on both sides. */
async function endTokens(llama: Llama, modelPath: string): Promise<number[]> {
  const model = await llama.loadModel({ modelPath });
  try {
    const ids = new Set<number>();
    for (const id of [model.tokens.eos, model.tokens.eot]) if (id !== null) ids.add(id);
    for (const text of ["<|im_end|>", "<|endoftext|>"]) {
      const tokens = model.tokenize(text, true);
      if (tokens.length === 1) ids.add(tokens[0]!);
    }
    return [...ids].sort((a, b) => a - b);
  } finally {
    await model.dispose();
  }
}

interface Baseline {
  /** Runs `requests` through the S sequences (timed) and reports node-llama-cpp's own token count. */
  measure(requests: BenchRequest[]): Promise<Throughput>;
  dispose(): Promise<void>;
}

/** The direct node-llama-cpp loop: S workers, each owning one sequence of one context, pulling requests. */
async function startBaseline(llama: Llama, modelPath: string, banned: number[]): Promise<Baseline> {
  const model = await llama.loadModel({ modelPath });
  try {
    const context = await model.createContext({ sequences: SEQUENCES, threads: THREADS, contextSize: Math.min(model.trainContextSize, MAX_CONTEXT) });
    const chatWrapper = resolveChatWrapper(model);
    const tokenBias = new TokenBias(model.tokenizer);
    for (const id of banned) tokenBias.set(id as Token, "never");
    const sequences = Array.from({ length: SEQUENCES }, () => context.getSequence());
    const chats = sequences.map((sequence) => new LlamaChat({ contextSequence: sequence, chatWrapper }));
    const outputTokens = (): number => sequences.reduce((sum, sequence) => sum + sequence.tokenMeter.usedOutputTokens, 0);

    const run = async (list: BenchRequest[]): Promise<{ tokens: number; atMaxTokens: number; texts: string[] }> => {
      const texts: string[] = new Array<string>(list.length);
      const outputBefore = outputTokens();
      let atMaxTokens = 0;
      let next = 0;
      await Promise.all(
        sequences.map(async (sequence, worker) => {
          while (next < list.length) {
            const index = next++;
            const request = list[index]!;
            // As the engine does: every request starts from an empty sequence (no prefix reuse).
            await sequence.clearHistory();
            const response = await chats[worker]!.generateResponse(history(request), {
              temperature: TEMPERATURE,
              seed: request.seed,
              maxTokens: MAX_TOKENS,
              repeatPenalty: false,
              tokenBias,
            });
            texts[index] = response.response;
            if (response.metadata.stopReason === "maxTokens") atMaxTokens += 1;
          }
        }),
      );
      return { tokens: outputTokens() - outputBefore, atMaxTokens, texts };
    };

    return {
      async measure(requests) {
        await run(requests.slice(0, SEQUENCES)); // warm-up
        const { ms, value } = await timed(() => run(requests));
        const seconds = ms / 1000;
        return { completionTokens: value.tokens, seconds, tokensPerSecond: value.tokens / seconds, atMaxTokens: value.atMaxTokens, texts: value.texts };
      },
      async dispose() {
        for (const chat of chats) chat.dispose({ disposeSequence: false });
        await context.dispose();
        await model.dispose();
      },
    };
  } catch (error) {
    await model.dispose();
    throw error;
  }
}

function writeBatchFile(file: string, modelName: string, requests: BenchRequest[], banned: number[]): void {
  const logitBias = Object.fromEntries(banned.map((id) => [String(id), -100]));
  const lines = requests.map((request, index) =>
    JSON.stringify({
      custom_id: `request-${index}`,
      method: "POST",
      url: "/v1/chat/completions",
      body: {
        model: modelName,
        messages: [
          { role: "system", content: request.system },
          { role: "user", content: request.user },
        ],
        max_tokens: MAX_TOKENS,
        temperature: TEMPERATURE,
        seed: request.seed,
        logit_bias: logitBias,
      },
    }),
  );
  writeFileSync(file, `${lines.join("\n")}\n`);
}

interface OutputLine {
  custom_id: string;
  response: { status_code: number; body: { usage?: { completion_tokens?: number }; choices?: Array<{ finish_reason?: string; message?: { content?: string } }> } } | null;
  error: unknown;
}

/** A webhook endpoint for spool's config (the tests' receiver) that tells when a batch has ended (any `batch.*` event). */
interface EndHook {
  webhook: { url: string; secret: string };
  ended(batchId: string): Promise<void>;
  close(): Promise<void>;
}

async function startEndHook(): Promise<EndHook> {
  const ended = new Set<string>();
  const waiting = new Map<string, () => void>();
  const receiver = await startWebhookReceiver();
  receiver.answer = (_n, body) => {
    const id = (JSON.parse(body) as { data?: { id?: string } }).data?.id;
    if (id) {
      ended.add(id);
      waiting.get(id)?.();
    }
    return 200;
  };
  return {
    webhook: { url: receiver.url, secret: `whsec_${Buffer.alloc(32, 1).toString("base64")}` },
    ended: (batchId) => (ended.has(batchId) ? Promise.resolve() : new Promise<void>((resolve) => waiting.set(batchId, resolve))),
    close: () => receiver.close(),
  };
}

/** Uploads `file`, runs it as a batch (create -> ended webhook timed) and reads the output usage. */
async function spoolBatch(client: OpenAI, hook: EndHook, file: string, count: number): Promise<Throughput> {
  const uploaded = await client.files.create({ file: createReadStream(file), purpose: "batch" });
  const { ms, value: batch } = await timed(async () => {
    const created = await client.batches.create({ input_file_id: uploaded.id, endpoint: "/v1/chat/completions", completion_window: "24h" });
    await hook.ended(created.id);
    return client.batches.retrieve(created.id);
  });
  if (batch.status !== "completed" || batch.request_counts?.completed !== count || !batch.output_file_id) {
    throw new Error(`llama bench batch ended ${batch.status} with ${JSON.stringify(batch.request_counts)} ${JSON.stringify(batch.errors)}`);
  }
  const output = await (await client.files.content(batch.output_file_id)).text();
  const texts: string[] = new Array<string>(count);
  let completionTokens = 0;
  let atMaxTokens = 0;
  for (const line of output.split("\n")) {
    if (line.trim() === "") continue;
    const parsed = JSON.parse(line) as OutputLine;
    const body = parsed.response?.body;
    if (parsed.response?.status_code !== 200 || !body) throw new Error(`llama bench request failed: ${line.slice(0, 500)}`);
    completionTokens += body.usage?.completion_tokens ?? 0;
    if (body.choices?.[0]?.finish_reason === "length") atMaxTokens += 1;
    texts[Number(parsed.custom_id.slice("request-".length))] = body.choices?.[0]?.message?.content ?? "";
  }
  const seconds = ms / 1000;
  return { completionTokens, seconds, tokensPerSecond: completionTokens / seconds, atMaxTokens, texts };
}

const best = (results: Throughput[]): Throughput => results.reduce((a, b) => (b.tokensPerSecond > a.tokensPerSecond ? b : a));
const rates = (results: Throughput[]): string => results.map((result) => Math.round(result.tokensPerSecond).toLocaleString()).join(", ");

async function benchCase(llama: Llama, benchCase: Case): Promise<void> {
  const { size, label, requests: count } = benchCase;
  const generated = await generateTestModel({ path: path.join(WORK_DIR, "models", `spool-${size}.gguf`), size, seed: 1 });
  const modelName = `bench-llama-${size}`;
  const requests = benchRequests(count);
  const banned = await endTokens(llama, generated.path);
  console.log(
    `  -- ${label} model: ${(generated.parameterCount / 1e6).toFixed(2)}M parameters, ${(generated.fileBytes / 1024 / 1024).toFixed(1)} MB; ` +
      `${count} requests x ${MAX_TOKENS} tokens (end tokens ${banned.join(",")} banned); best of ${ROUNDS} alternating rounds`,
  );

  const dir = mkdtempSync(path.join(WORK_DIR, `llama-${size}-`));
  const hook = await startEndHook();
  const configPath = writeBenchConfig(dir, {
    webhooks: [hook.webhook],
    models: [{ name: modelName, engine: "llama-cpp", path: generated.path, threads: THREADS, sequences: SEQUENCES, concurrency: SEQUENCES, kvReuse: false }],
  });
  const warmFile = path.join(dir, "warm-up.jsonl");
  const batchFile = path.join(dir, "batch.jsonl");
  writeBatchFile(warmFile, modelName, requests.slice(0, SEQUENCES), banned);
  writeBatchFile(batchFile, modelName, requests, banned);

  const baselineRuns: Throughput[] = [];
  const spoolRuns: Throughput[] = [];
  let coldSeconds = 0;
  let smallSeconds = 0;
  const baseline = await startBaseline(llama, generated.path, banned);
  try {
    const spool = await startSpool("serve", configPath);
    try {
      const client = new OpenAI({ apiKey: "bench", baseURL: `${spool.url}/v1`, maxRetries: 0, timeout: 600_000 });
      // Cold first batch: the engine's probe child and model load happen here; the timed rounds are warm.
      coldSeconds = (await spoolBatch(client, hook, warmFile, SEQUENCES)).seconds;
      // The same small batch again, warm: mostly spool's fixed per-batch cost (validation, claim, finalize).
      smallSeconds = (await spoolBatch(client, hook, warmFile, SEQUENCES)).seconds;
      // Alternating rounds: the machine is shared and noisy, so each side gets the same chances.
      for (let round = 0; round < ROUNDS; round++) {
        baselineRuns.push(await baseline.measure(requests));
        spoolRuns.push(await spoolBatch(client, hook, batchFile, count));
      }
    } finally {
      await spool.stop();
    }
  } finally {
    await baseline.dispose();
    await hook.close();
    rmSync(dir, { recursive: true, force: true });
  }

  const base = best(baselineRuns);
  const result = best(spoolRuns);
  const same = result.texts.filter((text, index) => text === base.texts[index]).length;
  row(`${label}: baseline node-llama-cpp loop (${SEQUENCES} sequences)`, `${Math.round(base.tokensPerSecond).toLocaleString()} tok/s`, `${base.completionTokens} tokens in ${base.seconds.toFixed(2)} s (rounds: ${rates(baselineRuns)})`);
  row(`${label}: spool batch create -> completed`, `${Math.round(result.tokensPerSecond).toLocaleString()} tok/s`, `${result.completionTokens} tokens in ${result.seconds.toFixed(2)} s (rounds: ${rates(spoolRuns)})`);
  row(`${label}: spool/baseline tokens/s`, ratio(result.tokensPerSecond, base.tokensPerSecond, { min: 0.9 }));
  row(
    `${label}: requests at max_tokens (baseline / spool)`,
    `${base.atMaxTokens} / ${result.atMaxTokens}`,
    `of ${count}; same text as baseline: ${same}/${count}; spool ${SEQUENCES}-request batch: cold (probe + load) ${coldSeconds.toFixed(2)} s, warm ${smallSeconds.toFixed(2)} s`,
  );
}

export async function benchLlama(cases: Case[] = CASES): Promise<void> {
  console.log(
    `\n(llama) Local inference: chat batch through spool (engine llama-cpp) vs a direct node-llama-cpp loop ` +
      `(${THREADS} thread, ${SEQUENCES} sequences, temperature ${TEMPERATURE}, max_tokens ${MAX_TOKENS})`,
  );
  const llama = await getLlama({ gpu: false, build: "never", maxThreads: THREADS, progressLogs: false, logLevel: LlamaLogLevel.warn });
  try {
    for (const item of cases) await benchCase(llama, item);
  } finally {
    await llama.dispose();
  }
}
