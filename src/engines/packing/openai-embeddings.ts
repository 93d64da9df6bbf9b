/**
 * Packing OpenAI embedding bodies (the dialect of the `openai` and `llama-cpp` Engines). Bodies that differ
 * only in their one input become one body with `input: [...]`; the embedding list the backend returns is
 * split into one list per body, each holding one embedding at index 0, as that body sent alone would
 * have got, with its share of the call's usage (token-shares.ts).
 *
 * A single input is a non-empty string, a non-empty list of token ids, or a list holding exactly one of
 * those. Texts and token-id lists never share a call: OpenAI rejects an `input` list mixing them. Empty
 * inputs are left to run alone: the backend would reject the whole call for them.
 */
import type { EngineReply, PackKey } from "../../core/engine.ts";
import { EngineError } from "../../core/engine.ts";
import { estimateTextTokens, memberReply, shareTokens } from "./token-shares.ts";

export type SingleInput = string | number[];

export function singleEmbeddingInput(input: unknown): SingleInput | null {
  if (typeof input === "string") return input.length > 0 ? input : null;
  if (!Array.isArray(input) || input.length === 0) return null;
  if (isTokenList(input)) return input;
  if (input.length !== 1) return null;
  const [only] = input as unknown[];
  if (typeof only === "string") return only.length > 0 ? only : null;
  return Array.isArray(only) && only.length > 0 && isTokenList(only) ? only : null;
}

/** Equal for bodies whose every field but `input` (and `model`, which the Engine sets) is equal. */
export function openAIEmbeddingPackKey(body: Record<string, unknown>): PackKey | null {
  const input = singleEmbeddingInput(body.input);
  if (input === null) return null;
  const options = Object.keys(body)
    .filter((name) => name !== "input" && name !== "model")
    .sort()
    .map((name) => [name, body[name]]);
  return {
    key: `${typeof input === "string" ? "text" : "tokens"} ${JSON.stringify(options)}`,
    estimatedTokens: estimatedTokensOf(input),
  };
}

export function packedOpenAIEmbeddingBody(bodies: readonly Record<string, unknown>[]): Record<string, unknown> {
  const inputs = bodies.map((body) => singleEmbeddingInput(body.input));
  if (bodies.length === 0 || inputs.some((input) => input === null)) throw unsplittable("a packed body has no single input");
  return { ...bodies[0], input: inputs };
}

/** One reply per body from the reply to the packed body; throws (not retryable) when it does not fit. */
export function splitOpenAIEmbeddingReply(reply: EngineReply, bodies: readonly Record<string, unknown>[]): EngineReply[] {
  const body = asRecord(reply.body);
  const data = Array.isArray(body?.data) ? (body.data as unknown[]) : null;
  if (body === null || data === null) throw unsplittable("the reply holds no `data` list");
  if (data.length !== bodies.length) throw unsplittable(`the reply holds ${data.length} embeddings for ${bodies.length} inputs`);
  const byInput = new Array<Record<string, unknown> | undefined>(bodies.length);
  data.forEach((entry, position) => {
    const record = asRecord(entry);
    const index = record?.index === undefined ? position : record.index;
    if (record === null || typeof index !== "number" || !Number.isInteger(index) || index < 0 || index >= bodies.length || byInput[index] !== undefined) {
      throw unsplittable(`embedding ${position} has no usable index`);
    }
    byInput[index] = record;
  });
  const shares = shareTokens(reply.usage.inputTokens, bodies.map((each) => estimatedTokensOf(singleEmbeddingInput(each.input) ?? "")));
  const { data: _data, usage, ...envelope } = body;
  return byInput.map((entry, index) => {
    const tokens = shares[index] ?? 0;
    const memberUsage = usage === undefined || usage === null ? {} : { usage: { prompt_tokens: tokens, total_tokens: tokens } };
    return memberReply(reply, tokens, { ...envelope, data: [{ ...entry, index: 0 }], ...memberUsage });
  });
}

/** A packed call whose reply cannot be given back per input: the Dispatcher runs the inputs one by one. */
export function unsplittable(problem: string): EngineError {
  return new EngineError({ kind: "engine", message: `A packed embedding call cannot be split: ${problem}.`, retryable: false });
}

function estimatedTokensOf(input: SingleInput): number {
  return typeof input === "string" ? estimateTextTokens(input) : Math.max(1, input.length);
}

function isTokenList(values: readonly unknown[]): values is number[] {
  return values.every((value) => typeof value === "number" && Number.isInteger(value));
}

function asRecord(value: unknown): Record<string, unknown> | null {
  return typeof value === "object" && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>) : null;
}
