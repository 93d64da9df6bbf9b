/**
 * (streaming) Time to first token and tokens per second of a streamed reply through spool, against the same
 * reply straight from its source, read by the same client code (fetch + an SSE line reader):
 * - openai engine: a fake OpenAI upstream in its own process streaming ~4-character chunks paced like a
 *   real model (2 ms a chunk), read directly and through a spool process (passthrough, model name rewritten);
 * - llama-cpp engine: the ~25M-parameter generated model streamed by a spool process vs node-llama-cpp in
 *   this process on the same file (1 thread, same prompt, seed, temperature, end tokens banned so both
 *   generate exactly MAX_TOKENS), time to the first text chunk and tokens/s after it.
 * Rates are tokens (chunks) over the whole request. For llama-cpp the same request through spool without
 * streaming is measured too, so what streaming itself costs shows apart from what the engine path costs (a
 * spool process vs a loop in this process). Sequential requests, best of ROUNDS per side (the machine is shared: ratios
 * hold, absolute times drift).
 */
import { mkdtempSync, rmSync } from "node:fs";
import path from "node:path";
import { getLlama, LlamaChat, LlamaLogLevel, resolveChatWrapper, TokenBias, type Token } from "node-llama-cpp";
import { generateTestModel } from "../src/demo-model/generate-test-model.ts";
import { writeBenchConfig } from "./end-to-end.ts";
import { ratio, row, WORK_DIR } from "./lib.ts";
import { startSpool, startUpstream } from "./processes.ts";

const ROUNDS = 5;
const MAX_TOKENS = 200;

interface Measured {
  ttftMs: number;
  /** Chunks (or tokens) per second over the whole request. */
  perSecond: number;
}

/** Streams one chat completion and times it: first content chunk, and the rate of the rest. */
async function streamOnce(baseUrl: string, body: Record<string, unknown>): Promise<Measured & { tokens: number }> {
  const started = performance.now();
  const response = await fetch(`${baseUrl}/chat/completions`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ ...body, stream: true, stream_options: { include_usage: true } }) });
  if (!response.ok || !response.body) throw new Error(`stream answered ${response.status}: ${await response.text()}`);
  const decoder = new TextDecoder();
  let pending = "";
  let first = 0;
  let chunks = 0;
  let usageTokens = 0;
  for await (const bytes of response.body as AsyncIterable<Uint8Array>) {
    pending += decoder.decode(bytes, { stream: true });
    let end: number;
    while ((end = pending.indexOf("\n\n")) !== -1) {
      const event = pending.slice(0, end);
      pending = pending.slice(end + 2);
      if (!event.startsWith("data: ") || event === "data: [DONE]") continue;
      const data = JSON.parse(event.slice(6)) as { choices?: { delta?: { content?: string } }[]; usage?: { completion_tokens?: number } | null };
      if (data.choices?.[0]?.delta?.content) {
        chunks += 1;
        if (first === 0) first = performance.now();
      }
      if (data.usage?.completion_tokens) usageTokens = data.usage.completion_tokens;
    }
  }
  const ended = performance.now();
  const tokens = usageTokens || chunks;
  return { ttftMs: first - started, perSecond: tokens / ((ended - started) / 1000), tokens };
}

/** The same request without streaming: the whole reply's time, and tokens per second over it. */
async function plainOnce(baseUrl: string, body: Record<string, unknown>): Promise<Measured> {
  const started = performance.now();
  const response = await fetch(`${baseUrl}/chat/completions`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) });
  const reply = (await response.json()) as { usage?: { completion_tokens?: number } };
  const ms = performance.now() - started;
  return { ttftMs: ms, perSecond: (reply.usage?.completion_tokens ?? 0) / (ms / 1000) };
}

function best(results: Measured[]): Measured {
  return { ttftMs: Math.min(...results.map((each) => each.ttftMs)), perSecond: Math.max(...results.map((each) => each.perSecond)) };
}

/** `plain`: the same request through spool without streaming, when the source answers it at the same pace. */
function report(label: string, direct: Measured, spool: Measured, unit: string, plain?: Measured): void {
  row(`${label}: first token, direct`, `${direct.ttftMs.toFixed(2)} ms`);
  row(`${label}: first token, through spool`, `${spool.ttftMs.toFixed(2)} ms`, `${spool.ttftMs >= direct.ttftMs ? "+" : ""}${(spool.ttftMs - direct.ttftMs).toFixed(2)} ms`);
  row(`${label}: ${unit}/s, direct`, direct.perSecond.toFixed(0));
  row(`${label}: ${unit}/s, streamed through spool`, spool.perSecond.toFixed(0), ratio(spool.perSecond, direct.perSecond, { min: 0.9 }));
  if (plain === undefined) return;
  row(`${label}: ${unit}/s, not streamed, through spool`, plain.perSecond.toFixed(0), `streamed/not streamed: ${ratio(spool.perSecond, plain.perSecond)}`);
}

async function benchUpstream(intervalMs: number): Promise<void> {
  const upstream = await startUpstream(0, intervalMs);
  const dir = mkdtempSync(path.join(WORK_DIR, "streaming-"));
  const spool = await startSpool("serve", writeBenchConfig(dir, { models: [{ name: "gpt-stream", engine: "openai", baseUrl: upstream.url, concurrency: 4, maxRetries: 0 }] }));
  try {
    // ~2,000 characters of echo: about 500 chunks of four characters.
    const body = { model: "gpt-stream", messages: [{ role: "user", content: "token ".repeat(330) }] };
    const direct: Measured[] = [];
    const through: Measured[] = [];
    await streamOnce(upstream.url, body);
    await streamOnce(`${spool.url}/v1`, body);
    for (let round = 0; round < ROUNDS; round += 1) {
      direct.push(await streamOnce(upstream.url, body));
      through.push(await streamOnce(`${spool.url}/v1`, body));
    }
    report(`openai, ${intervalMs} ms a chunk`, best(direct), best(through), "chunks");
  } finally {
    await spool.stop();
    await upstream.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

async function benchLlamaStream(): Promise<void> {
  const generated = await generateTestModel({ path: path.join(WORK_DIR, "models", "spool-bench-25m.gguf"), size: "bench-25m", seed: 1 });
  const llama = await getLlama({ gpu: false, build: "never", maxThreads: 1, progressLogs: false, logLevel: LlamaLogLevel.warn });
  const model = await llama.loadModel({ modelPath: generated.path });
  const banned = [model.tokens.eos, model.tokens.eot].filter((id): id is Token => id !== null);
  for (const text of ["<|im_end|>", "<|endoftext|>"]) {
    const tokens = model.tokenize(text, true);
    if (tokens.length === 1) banned.push(tokens[0]!);
  }
  const prompt = "Summarise what a batch API does, in one paragraph.";
  const dir = mkdtempSync(path.join(WORK_DIR, "streaming-llama-"));
  const spool = await startSpool("serve", writeBenchConfig(dir, { models: [{ name: "local", engine: "llama-cpp", path: generated.path, threads: 1, sequences: 1, concurrency: 1, kvReuse: false }] }));
  const context = await model.createContext({ sequences: 1, threads: 1, contextSize: Math.min(model.trainContextSize, 4096) });
  const sequence = context.getSequence();
  const chat = new LlamaChat({ contextSequence: sequence, chatWrapper: resolveChatWrapper(model) });
  const tokenBias = new TokenBias(model.tokenizer);
  for (const id of banned) tokenBias.set(id, "never");
  const directOnce = async (seed: number): Promise<Measured> => {
    await sequence.clearHistory();
    const started = performance.now();
    let first = 0;
    const before = sequence.tokenMeter.usedOutputTokens;
    await chat.generateResponse([{ type: "user", text: prompt }, { type: "model", response: [] }], {
      temperature: 0.8,
      seed,
      maxTokens: MAX_TOKENS,
      repeatPenalty: false,
      tokenBias,
      onTextChunk: () => {
        if (first === 0) first = performance.now();
      },
    });
    const tokens = sequence.tokenMeter.usedOutputTokens - before;
    return { ttftMs: first - started, perSecond: tokens / ((performance.now() - started) / 1000) };
  };
  const body = { model: "local", messages: [{ role: "user", content: prompt }], max_tokens: MAX_TOKENS, temperature: 0.8, logit_bias: Object.fromEntries(banned.map((id) => [String(id), -100])) };
  try {
    const direct: Measured[] = [];
    const through: Measured[] = [];
    const plain: Measured[] = [];
    await directOnce(1);
    await streamOnce(`${spool.url}/v1`, { ...body, seed: 1 });
    for (let round = 0; round < ROUNDS; round += 1) {
      direct.push(await directOnce(round));
      const streamed = await streamOnce(`${spool.url}/v1`, { ...body, seed: round });
      if (streamed.tokens !== MAX_TOKENS) throw new Error(`spool streamed ${streamed.tokens} tokens, expected ${MAX_TOKENS}`);
      through.push(streamed);
      plain.push(await plainOnce(`${spool.url}/v1`, { ...body, seed: round }));
    }
    report(`llama-cpp 25M, ${MAX_TOKENS} tokens`, best(direct), best(through), "tokens", best(plain));
  } finally {
    await spool.stop();
    await context.dispose();
    await model.dispose();
    rmSync(dir, { recursive: true, force: true });
  }
}

export async function benchStreaming(): Promise<void> {
  console.log("\n(streaming) time to first token and tokens/s through spool vs straight from the source");
  await benchUpstream(2);
  await benchLlamaStream();
}
