/**
 * Small pieces of the ModelDispatcher's `run` kept apart from it: what one run is told, how a held
 * attempt (a stream) keeps its slot, the error a cancelled Batch's requests fail with, and the mark of
 * the backend that served a reply.
 */
import { BatchCancelledError, EngineError, type EngineReply } from "../core/engine.ts";
import type { BackendLane } from "./lane.ts";

export interface RunOptions {
  sync: boolean;
  signal: AbortSignal | undefined;
  /** The Batch of a Batch Item, for Dispatcher.cancelBatch. */
  batchId: string | undefined;
  /** A new Batch's first claim (DispatchRequest.first): waits ahead of Batch requests queued before it. */
  first?: boolean;
}

/**
 * Keeps an attempt's slot and deadline past its call: wraps the value, may `abort` the attempt (its Engine
 * call sees `signal` fire), and calls `end` once the caller is done with it.
 */
export type Hold<T> = (value: T, abort: (reason: unknown) => void, signal: AbortSignal, end: () => void) => T;

export function once(run: () => void): () => void {
  let done = false;
  return () => {
    if (done) return;
    done = true;
    run();
  };
}

/**
 * A request of a cancelled Batch: recorded as batch_cancelled, never retried. `sent`: it was running, or an
 * earlier attempt of it was sent (BatchCancelledError).
 */
export function cancelledError(batchId: string, running: boolean, sent = running): EngineError {
  const message = running ? `Batch ${batchId} was cancelled while this request ran; it was stopped.` : `Batch ${batchId} was cancelled before this request ran.`;
  return new BatchCancelledError(message, sent);
}

/**
 * What an attempt failed with. When the attempt's signal fired, its reason (timeout or caller abort,
 * both EngineErrors made above) explains the failure better than whatever the engine saw as a result
 * (a destroyed socket, a generic AbortError).
 */
export function attemptError(error: unknown, signal: AbortSignal): unknown {
  if (signal.aborted && signal.reason instanceof EngineError) return signal.reason;
  return error;
}

export function callerAbortedError(model: string, reason: unknown): EngineError {
  return new EngineError({ kind: "aborted", message: `Request to model '${model}' was cancelled.`, retryable: false, cause: reason });
}

export function closedError(model: string): EngineError {
  return new EngineError({ kind: "aborted", message: `Request to model '${model}' was stopped: the dispatcher is shutting down.`, retryable: false });
}

/** Marks a reply of a Model with `backends` with the backend that served it (charged at its price); others pass as they came. */
export function servedBy(reply: Promise<EngineReply>, backend: BackendLane): Promise<EngineReply> {
  if (backend.breaker === null) return reply;
  return reply.then((value) => marked(value, backend));
}
export function marked(reply: EngineReply, backend: BackendLane): EngineReply {
  return { ...reply, servedBy: { backend: backend.name, price: backend.model.price ?? null } };
}
