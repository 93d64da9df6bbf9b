/**
 * What a Batch costs, from its token usage and its Model's `price` (USD per 1M tokens; issue 12, part 6).
 *
 * - `input` / `output` are the sync (list) prices; Batch work is charged at them times (1 − `batchDiscount`)
 *   (0.5: half price, as OpenAI's and Gemini's batch APIs). `sync_equivalent` is the same work at list price.
 * - `spent` is the usage recorded so far. `projected` extrapolates it to every Item still pending at the
 *   average cost of the Items that ran (succeeded or failed); equal to `spent` once nothing is pending.
 * - `cachedInput` is accepted in the config but not applied: usage records no cached-token count yet, so every
 *   input token is charged at `input` (an upper bound when the upstream cached a prefix).
 */
import type { Batch } from "./types.ts";

export interface Price {
  input: number;
  output: number;
  cachedInput?: number;
  batchDiscount?: number;
}

export interface BatchCost {
  spent: number;
  projected: number;
  syncEquivalent: number;
  currency: "USD";
}

/** USD of `inputTokens` and `outputTokens` at list price (no discount). */
export function listCost(price: Price, inputTokens: number, outputTokens: number): number {
  return (inputTokens * price.input + outputTokens * price.output) / 1_000_000;
}

export function batchCost(batch: Batch, price: Price): BatchCost {
  const { counts, usage } = batch;
  const discount = 1 - (price.batchDiscount ?? 0);
  const listSpent = listCost(price, usage.inputTokens, usage.outputTokens);
  const ran = counts.succeeded + counts.failed;
  const pending = Math.max(0, counts.total - ran - counts.cancelled - counts.expired);
  const listProjected = ran > 0 ? listSpent + (listSpent / ran) * pending : listSpent;
  return { spent: round(listSpent * discount), projected: round(listProjected * discount), syncEquivalent: round(listProjected), currency: "USD" };
}

/** Micro-dollars: enough for a few tokens of a cheap model, short enough to read. */
function round(usd: number): number {
  return Math.round(usd * 1e6) / 1e6;
}
