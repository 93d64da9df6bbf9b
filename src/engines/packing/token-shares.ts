/**
 * Per-Item usage of a packed call. A backend reports one token count for the whole call; each member gets
 * the count multiplied by its share of the estimated input tokens, rounded by largest remainder so the
 * shares add up to exactly what the call reported (a Batch's usage is the same packed or not). Ties go to
 * the earlier member, so the split is deterministic.
 */
import type { EngineReply } from "../../core/engine.ts";

export function shareTokens(total: number, weights: readonly number[]): number[] {
  if (weights.length === 0) return [];
  const whole = Math.max(0, Math.round(total));
  const positive = weights.map((weight) => (Number.isFinite(weight) && weight > 0 ? weight : 0));
  const sum = positive.reduce((acc, weight) => acc + weight, 0);
  // No estimate to go by (all inputs empty): equal shares.
  const basis = sum > 0 ? positive : positive.map(() => 1);
  const basisSum = sum > 0 ? sum : basis.length;
  const exact = basis.map((weight) => (whole * weight) / basisSum);
  const shares = exact.map(Math.floor);
  let left = whole - shares.reduce((acc, share) => acc + share, 0);
  const byRemainder = exact.map((value, index) => ({ index, remainder: value - Math.floor(value) })).sort((a, b) => b.remainder - a.remainder || a.index - b.index);
  for (const { index } of byRemainder) {
    if (left <= 0) break;
    shares[index] = (shares[index] ?? 0) + 1;
    left -= 1;
  }
  return shares;
}

/** The cheap token estimate packing uses for text: about four characters a token, at least one. */
export function estimateTextTokens(text: string): number {
  return Math.max(1, Math.ceil(text.length / 4));
}

/**
 * One member's reply of a packed call: the call's status and request id, `tokens` (its share of the call's
 * usage) as input tokens, and the body the engine's splitter built for it.
 */
export function memberReply(call: Pick<EngineReply, "statusCode" | "requestId">, tokens: number, body: Record<string, unknown>): EngineReply {
  return { statusCode: call.statusCode, requestId: call.requestId, usage: { inputTokens: tokens, outputTokens: 0 }, body };
}
