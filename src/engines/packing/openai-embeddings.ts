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
import { keepJsonText, knownSourceText, memberSourceText } from "../../core/json.ts";
import { deferMember, deferredMemberText, stringifyKeepingDeferred } from "../../core/deferred-json.ts";
import { arrayElementTexts, topLevelMemberText } from "../../core/json-member.ts";
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
  const vectorTexts = deferredVectorTexts(data) ?? vectorTextsOf(body, data.length);
  const { data: _data, usage, ...envelope } = body;
  return byInput.map((entry, index) => {
    const tokens = shares[index] ?? 0;
    const memberUsage = usage === undefined || usage === null ? {} : { usage: { prompt_tokens: tokens, total_tokens: tokens } };
    const vectorText = vectorTexts?.get(entry!) ?? null;
    const memberBody = vectorText === null ? { ...envelope, data: [{ ...entry, index: 0 }], ...memberUsage } : withVectorText({ ...envelope, ...memberUsage }, entry!, vectorText);
    return memberReply(reply, tokens, memberBody);
  });
}

/**
 * Each entry's vector text when the reply's parse left every vector unparsed (core/deferred-json.ts: long
 * vectors): no scan, and the member replies keep them unparsed too. Null when any entry's was parsed.
 */
function deferredVectorTexts(data: readonly unknown[]): Map<unknown, string> | null {
  const texts = new Map<unknown, string>();
  for (const entry of data) {
    const text = typeof entry === "object" && entry !== null ? deferredMemberText(entry, "embedding") : null;
    if (text === null) return null;
    texts.set(entry, text);
  }
  return texts;
}

/** Reply text per input from which vectors are spliced as written rather than serialized again (~100 floats). */
const SPLICE_FROM_CHARS = 2_048;

/**
 * The upstream's own text of each entry's `embedding`, by entry, when the reply's text is known (it is
 * unless a translation rebuilt the reply): a member's body is then written with its vector's bytes instead
 * of serializing the vector again, which at real dimensions (1,536 floats, ~30 KB of text) cost as much as
 * parsing the packed reply did: 150 µs per input each (decision 0034). Null when any entry's text cannot be read.
 */
function vectorTextsOf(body: Record<string, unknown>, count: number): Map<unknown, string> | null {
  // Small vectors serialize about as fast as the scan and splice take (the two cross between 32 and 256 floats).
  const source = knownSourceText(body);
  if (source === null || source.length < count * SPLICE_FROM_CHARS) return null;
  const dataText = memberSourceText(body, "data");
  const elements = dataText === null ? null : arrayElementTexts(dataText);
  const data = body.data as unknown[];
  if (elements === null || elements.length !== count) return null;
  const texts = new Map<unknown, string>();
  for (let position = 0; position < count; position += 1) {
    const text = topLevelMemberText(elements[position]!, "embedding");
    if (text === null) return null;
    texts.set(data[position], text);
  }
  return texts;
}

/**
 * `{ ...outer, data: [{ ...entry, index: 0 }] }` with its JSON text kept (keepJsonText): the small parts
 * serialized, the vector written as the upstream wrote it (a deferred member, core/deferred-json.ts, whether
 * the reply's parse deferred it or the scan above found its text). It is parsed only if something reads it.
 */
function withVectorText(outer: Record<string, unknown>, entry: Record<string, unknown>, vectorText: string): Record<string, unknown> {
  // The entry's other members, not a rest spread: that would read (so parse) a deferred vector.
  const memberEntry: Record<string, unknown> = {};
  for (const key of Object.keys(entry)) if (key !== "embedding") memberEntry[key] = entry[key];
  memberEntry.index = 0;
  memberEntry.embedding = null;
  deferMember(memberEntry, "embedding", vectorText);
  const member = { ...outer, data: [memberEntry] };
  keepJsonText(member, stringifyKeepingDeferred(member));
  return member;
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
