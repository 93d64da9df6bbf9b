/**
 * Turns what an Engine did with an Item into the ItemResult stored for it. A failed request is data, not an
 * exception: an upstream 4xx/5xx keeps its status code and body for the error file.
 */
import { itemCharge } from "../core/batch-cost.ts";
import { AppError } from "../core/errors.ts";
import type { ItemResult } from "../core/types.ts";
import { BatchCancelledError, EngineError, type EngineReply } from "../core/engine.ts";
import { jsonTextOf } from "../core/json.ts";
import { ZERO_USAGE } from "../core/types.ts";
import { cancelledResult } from "../core/batch-format.ts";

export type ItemOutcome = { status: "succeeded" | "failed" | "cancelled"; result: ItemResult } | { status: "abandoned" };

export function outcomeOfReply(reply: EngineReply, nowMs: number): ItemOutcome {
  const ok = reply.statusCode >= 200 && reply.statusCode < 300;
  return {
    status: ok ? "succeeded" : "failed",
    result: {
      statusCode: reply.statusCode,
      // The upstream's own bytes when the reply is unchanged (no re-serializing on the hot path).
      body: jsonTextOf(reply.body ?? null),
      errorCode: null,
      errorMessage: null,
      requestId: reply.requestId,
      usage: reply.usage,
      finishedAtMs: nowMs,
      // A Model with several backends: charged at the price of the one that ran it (decision 0022).
      ...(reply.servedBy?.price ? { charge: itemCharge(reply.servedBy.price, reply.usage) } : {}),
    },
  };
}

/**
 * `abandoned` means spool itself stopped the request (shutdown): nothing is recorded and the Item goes
 * back to the pool for another Worker.
 */
export function outcomeOfError(error: unknown, nowMs: number): ItemOutcome {
  const base = { requestId: null, usage: ZERO_USAGE, finishedAtMs: nowMs };
  if (error instanceof EngineError) {
    if (error.kind === "aborted") return { status: "abandoned" };
    // Its Batch was cancelled (Dispatcher.cancelBatch). Never sent: cancelled, as the Items the cancel found
    // unstarted are (Anthropic: "unrun requests of a cancelled batch end as canceled"). Stopped while it
    // ran: failed, with the same code.
    if (error instanceof BatchCancelledError && !error.sent) return { status: "cancelled", result: cancelledResult(nowMs) };
    if (error.kind === "cancelled") return { status: "failed", result: { ...cancelledResult(nowMs), errorMessage: error.message } };
    if (error.statusCode !== null) {
      return {
        status: "failed",
        result: { ...base, statusCode: error.statusCode, body: JSON.stringify(error.body ?? { error: { message: error.message } }), errorCode: null, errorMessage: null, requestId: error.requestId },
      };
    }
    const errorCode = error.kind === "timeout" ? "request_timeout" : error.kind === "network" ? "upstream_unavailable" : "engine_error";
    return { status: "failed", result: { ...base, statusCode: null, body: null, errorCode, errorMessage: error.message } };
  }
  if (error instanceof AppError && error.code === "unknown_model") {
    return { status: "failed", result: { ...base, statusCode: null, body: null, errorCode: "model_not_found", errorMessage: error.message } };
  }
  return { status: "failed", result: { ...base, statusCode: null, body: null, errorCode: "internal_error", errorMessage: "spool failed to run this request; see the server log." } };
}
