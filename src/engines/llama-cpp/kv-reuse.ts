/**
 * KV reuse: a sequence is not emptied between requests, so the next request on it evaluates only the part
 * of its prompt that differs from what the sequence already holds. node-llama-cpp does the work: LlamaChat
 * and LlamaCompletion align the sequence with the new prompt (`adaptStateToTokens`: erase from the first
 * differing token on) and evaluate the rest. A shared system prompt is then evaluated once per sequence,
 * not once per request (ENGINE-NOTES.md: 12 requests with a ~740-token system prompt, 8,916 -> 336 prompt
 * tokens evaluated, 4.3x faster).
 *
 * Context size needs no eviction of its own: the alignment erases everything after the shared prefix, so a
 * sequence never holds more than the longer of its last request and the new one, and the generation budget
 * already keeps prompt + max tokens within the sequence's context.
 *
 * Determinism: a token's keys and values depend only on the tokens before it, so a reused prefix gives the
 * rest of the prompt the same attention inputs as evaluating it whole, and the replies are the same. The
 * tests "gives byte-identical replies and usage with and without reuse" (tiny and 25M models, temperature 0
 * and seeded sampling, parallel sequences) hold the engine to that.
 *
 * `kvReuse: false` (per Model) keeps the old behaviour, every request on an emptied sequence: the
 * benchmark baseline, and a way out should a model misbehave with reuse.
 */
import type { LlamaContextSequence, Token } from "node-llama-cpp";
import type { FinishReason, Generation } from "./openai-replies.ts";

/** Prompt tokens since the model was loaded: evaluated by the model, or taken from a sequence's KV cache. */
export interface PromptTokenCounters {
  evaluated: number;
  reused: number;
}

/**
 * How many leading tokens of `prompt` the sequence already holds and will not evaluate again. At least one
 * prompt token is always evaluated (its logits start the generation), as LlamaChat and LlamaCompletion do.
 */
export function reusablePrefix(sequence: LlamaContextSequence, prompt: readonly Token[]): number {
  if (prompt.length === 0) return 0;
  return Math.min(sequence.compareContextTokens(prompt as Token[]).firstDifferentIndex, prompt.length - 1);
}

/**
 * What a sequence is worth to a request (SequencePool affinity): the prompt tokens it would not evaluate
 * again, minus the cached tokens that would be thrown away to make room. Plain prefix length would send a
 * request whose prompt shares only the chat template's first few tokens with a sequence holding a long
 * system prompt to that sequence, wiping the prompt out while an empty sequence sat free.
 */
export function sequenceAffinity(sequence: LlamaContextSequence, prompt: readonly Token[]): number {
  const reused = reusablePrefix(sequence, prompt);
  return reused - (sequence.nextTokenIndex - reused);
}

/**
 * Runs one generation and reads what it evaluated and sampled from the sequence's TokenMeter. `prompt` is
 * the token list the generation will evaluate (for the reuse figure); with `kvReuse` false the sequence is
 * emptied first. Prompt usage is reused + evaluated, so a client sees the same `prompt_tokens` whether or
 * not its prefix was cached (OpenAI semantics), and the reused part as `cachedTokens`.
 */
export async function meteredGeneration(
  sequence: LlamaContextSequence,
  prompt: readonly Token[],
  kvReuse: boolean,
  counters: PromptTokenCounters,
  generate: () => Promise<{ text: string; finishReason: FinishReason; stopSequence?: string }>,
): Promise<Generation> {
  if (!kvReuse) await sequence.clearHistory();
  const reused = kvReuse ? reusablePrefix(sequence, prompt) : 0;
  const inputBefore = sequence.tokenMeter.usedInputTokens;
  const outputBefore = sequence.tokenMeter.usedOutputTokens;
  let result: { text: string; finishReason: FinishReason; stopSequence?: string };
  try {
    result = await generate();
  } catch (error) {
    // An aborted or failed evaluation may leave tokens in the KV cache that its token list does not
    // describe; an empty sequence is the one state known to be right.
    if (kvReuse) await sequence.clearHistory().catch(() => undefined);
    throw error;
  }
  const evaluated = sequence.tokenMeter.usedInputTokens - inputBefore;
  counters.evaluated += evaluated;
  counters.reused += reused;
  return {
    ...result,
    promptTokens: reused + evaluated,
    cachedTokens: reused,
    completionTokens: sequence.tokenMeter.usedOutputTokens - outputBefore,
  };
}
