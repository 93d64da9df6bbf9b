/**
 * What a Batch costs, from its token usage and its Model's `price` (USD per 1M tokens; issue 12, part 6).
 *
 * - `input` / `output` are the sync (list) prices; Batch work is charged at them times (1 − `batchDiscount`)
 *   (0.5: half price, as OpenAI's and Gemini's batch APIs). `sync_equivalent` is the same work at list price.
 * - `spent` is the usage recorded so far. `projected` extrapolates it to every Item still pending at the
 *   average cost of the Items that ran (succeeded or failed); equal to `spent` once nothing is pending.
 * - A Model with several backends (decision 0022) charges each Item at the price of the backend that ran it
 *   (`itemCharge`, recorded by the Store per Batch as `charges`); its cost is those charges, projected the
 *   same way, instead of usage × one price.
 * - `cachedInput` is accepted in the config but not applied: usage records no cached-token count yet, so every
 *   input token is charged at `input` (an upper bound when the upstream cached a prefix).
 */
import type { Batch, ItemCharge, TokenUsage } from "./types.ts";

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

/** What one Item run with `usage` on a backend of `price` costs, at its Batch price and at list price. */
export function itemCharge(price: Price, usage: TokenUsage): ItemCharge {
  const list = listCost(price, usage.inputTokens, usage.outputTokens) * 1e9;
  return { batchNanoUsd: Math.round(list * (1 - (price.batchDiscount ?? 0))), listNanoUsd: Math.round(list) };
}

/** `price`: the Model's, for a Model with one backend; ignored once the Batch has charges (several backends). */
export function batchCost(batch: Batch, price: Price | undefined): BatchCost | null {
  const { counts, usage, charges } = batch;
  const charged = charges.listNanoUsd > 0 || charges.batchNanoUsd > 0;
  if (!charged && price === undefined) return null;
  const spent = charged ? charges.batchNanoUsd / 1e9 : listCost(price!, usage.inputTokens, usage.outputTokens) * (1 - (price!.batchDiscount ?? 0));
  const listSpent = charged ? charges.listNanoUsd / 1e9 : listCost(price!, usage.inputTokens, usage.outputTokens);
  const ran = counts.succeeded + counts.failed;
  const pending = Math.max(0, counts.total - ran - counts.cancelled - counts.expired);
  const project = (sum: number): number => (ran > 0 ? sum + (sum / ran) * pending : sum);
  return { spent: round(spent), projected: round(project(spent)), syncEquivalent: round(project(listSpent)), currency: "USD" };
}

/** Micro-dollars: enough for a few tokens of a cheap model, short enough to read. */
function round(usd: number): number {
  return Math.round(usd * 1e6) / 1e6;
}
