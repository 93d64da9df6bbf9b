/**
 * The OpenAI reply bodies the llama-cpp engine returns (chat.completion, text_completion), built from its
 * generations in one place so both flows give the same envelope, ids and usage arithmetic.
 */
import { randomBytes } from "node:crypto";
import type { TokenUsage } from "../../core/types.ts";
import type { EngineReply } from "../../core/engine.ts";

export type FinishReason = "stop" | "length";

export interface Generation {
  text: string;
  finishReason: FinishReason;
  /** The stop string that ended the text, when one did (reported as vLLM does, `choices[].stop_reason`). */
  stopSequence?: string;
  /** The whole prompt, reused or not (OpenAI semantics). */
  promptTokens: number;
  /** Leading prompt tokens taken from the sequence's KV cache instead of evaluated. */
  cachedTokens: number;
  completionTokens: number;
}

/** A successful chat.completion with one choice per generation. */
export function chatCompletionReply(modelName: string, generations: Generation[], choicesPerPrompt: number): EngineReply {
  return reply(modelName, generations, choicesPerPrompt, "chatcmpl", "chat.completion", (generation, index) => ({
    index,
    message: { role: "assistant", content: generation.text, refusal: null },
    logprobs: null,
    finish_reason: generation.finishReason,
    stop_reason: generation.stopSequence ?? null,
  }));
}

/** A successful text_completion: `choicesPerPrompt` generations for each prompt, in prompt order. */
export function textCompletionReply(modelName: string, generations: Generation[], choicesPerPrompt: number): EngineReply {
  return reply(modelName, generations, choicesPerPrompt, "cmpl", "text_completion", (generation, index) => ({
    index,
    text: generation.text,
    logprobs: null,
    finish_reason: generation.finishReason,
    stop_reason: generation.stopSequence ?? null,
  }));
}

function reply(
  modelName: string,
  generations: Generation[],
  choicesPerPrompt: number,
  idPrefix: string,
  object: string,
  toChoice: (generation: Generation, index: number) => Record<string, unknown>,
): EngineReply {
  const { usage, cachedTokens } = sumUsage(generations, choicesPerPrompt);
  return {
    statusCode: 200,
    requestId: null,
    usage,
    body: {
      id: `${idPrefix}-${randomId()}`,
      object,
      created: Math.floor(Date.now() / 1000),
      model: modelName,
      choices: generations.map(toChoice),
      usage: usageBody(usage, cachedTokens),
      system_fingerprint: null,
    },
  };
}

/** A prompt is counted once however many choices it got (OpenAI's `n` semantics). */
function sumUsage(generations: Generation[], choicesPerPrompt: number): { usage: TokenUsage; cachedTokens: number } {
  let inputTokens = 0;
  let cachedTokens = 0;
  let outputTokens = 0;
  generations.forEach((generation, index) => {
    if (index % choicesPerPrompt === 0) {
      inputTokens += generation.promptTokens;
      cachedTokens += generation.cachedTokens;
    }
    outputTokens += generation.completionTokens;
  });
  return { usage: { inputTokens, outputTokens, cachedInputTokens: cachedTokens }, cachedTokens };
}

/** OpenAI's usage object; `prompt_tokens_details.cached_tokens` is the part of `prompt_tokens` not evaluated again. */
function usageBody(usage: TokenUsage, cachedTokens: number) {
  return {
    prompt_tokens: usage.inputTokens,
    completion_tokens: usage.outputTokens,
    total_tokens: usage.inputTokens + usage.outputTokens,
    prompt_tokens_details: { cached_tokens: cachedTokens },
  };
}

const ID_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";

const ID_LENGTH = 29;
/** Random bytes drawn a few KB at a time: one `randomBytes` call per reply cost ~25 µs on the tiny model's path. */
const randomPool = { bytes: Buffer.alloc(0), used: 0 };

function randomId(): string {
  if (randomPool.used + ID_LENGTH > randomPool.bytes.length) {
    randomPool.bytes = randomBytes(ID_LENGTH * 128);
    randomPool.used = 0;
  }
  let id = "";
  for (let index = 0; index < ID_LENGTH; index++) id += ID_ALPHABET[randomPool.bytes[randomPool.used + index]! % ID_ALPHABET.length];
  randomPool.used += ID_LENGTH;
  return id;
}
