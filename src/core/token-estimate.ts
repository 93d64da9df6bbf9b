/**
 * Token and cost estimates of requests before they run (`spool validate`; issue 12, part 6). A documented
 * heuristic, the same for every dialect and engine: input tokens are the characters of the request's text
 * (every string under `content`, `text`, `prompt`, `input`, `parts`, `messages`, `contents`, `system`) divided
 * by 4, rounded up, plus 4 per message (OpenAI's rule of thumb for English); output tokens are the request's
 * own cap (`max_tokens`, `max_completion_tokens`, `max_output_tokens`, `maxOutputTokens`) when it has one,
 * found on the request or its `generationConfig`, an upper bound; else unknown (embeddings produce none). No engine tokenizer is used: `spool validate` runs
 * without loading a model, and hosted upstreams do not expose theirs.
 */
import { listCost, type Price } from "./batch-cost.ts";

const TEXT_KEYS = new Set(["content", "text", "prompt", "input", "parts", "messages", "contents", "system", "systemInstruction", "requests"]);
const CAP_KEYS = ["max_tokens", "max_completion_tokens", "max_output_tokens", "maxOutputTokens"];

export interface TokenEstimate {
  requests: number;
  inputTokens: number;
  /** Sum of the caps of requests that set one. */
  outputTokensAtMost: number;
  /** Requests whose output has no cap (generation without max_tokens); 0 for embeddings. */
  uncappedRequests: number;
}

export function emptyEstimate(): TokenEstimate {
  return { requests: 0, inputTokens: 0, outputTokensAtMost: 0, uncappedRequests: 0 };
}

/** Adds one request body (parsed JSON) to `estimate`. */
export function addRequest(estimate: TokenEstimate, body: unknown, generates: boolean): void {
  const counted = { chars: 0, messages: 0 };
  countText(body, false, counted);
  estimate.requests += 1;
  estimate.inputTokens += Math.ceil(counted.chars / 4) + 4 * counted.messages;
  if (!generates) return;
  const cap = outputCap(body);
  if (cap === null) estimate.uncappedRequests += 1;
  else estimate.outputTokensAtMost += cap;
}

/** Cost at batch price and at sync price of the estimate, counting capped output at its cap (an upper bound). */
export function estimateCost(estimate: TokenEstimate, price: Price): { batch: number; sync: number } {
  const sync = listCost(price, estimate.inputTokens, estimate.outputTokensAtMost);
  return { batch: sync * (1 - (price.batchDiscount ?? 0)), sync };
}

function countText(value: unknown, inText: boolean, counted: { chars: number; messages: number }): void {
  if (typeof value === "string") {
    if (inText) counted.chars += value.length;
    return;
  }
  if (Array.isArray(value)) {
    for (const entry of value) countText(entry, inText, counted);
    return;
  }
  if (typeof value !== "object" || value === null) return;
  const record = value as Record<string, unknown>;
  if (typeof record.role === "string") counted.messages += 1;
  for (const [key, entry] of Object.entries(record)) {
    // The role names a message, it is not its text.
    if (key === "role") continue;
    countText(entry, inText || TEXT_KEYS.has(key), counted);
  }
}

/** The cap on the request, on its `body` / `request` (a whole batch line) or their `generationConfig`. */
function outputCap(value: unknown, depth = 0): number | null {
  if (typeof value !== "object" || value === null || depth > 2) return null;
  const record = value as Record<string, unknown>;
  for (const key of CAP_KEYS) {
    const cap = record[key];
    if (typeof cap === "number" && Number.isFinite(cap) && cap >= 0) return cap;
  }
  for (const key of ["body", "request", "generationConfig", "generation_config"]) {
    const cap = outputCap(record[key], depth + 1);
    if (cap !== null) return cap;
  }
  return null;
}
