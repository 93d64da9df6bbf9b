/**
 * The Dispatcher contract: runs requests on the Engine of their Model within that Model's concurrency,
 * retrying retryable EngineErrors with capped backoff. Used by the Worker for Batch Items and by the API's
 * synchronous endpoints, which go ahead of queued Batch traffic (`priority: "sync"`).
 */
import type { Dialect, RequestKind } from "./types.ts";
import type { EngineReply } from "./engine.ts";

export interface DispatchRequest {
  model: string;
  kind: RequestKind;
  dialect: Dialect;
  body: Record<string, unknown>;
  priority: "sync" | "batch";
  signal?: AbortSignal;
}

export interface Dispatcher {
  /** Resolves with the Engine's reply, or rejects with the last EngineError once retries are spent. */
  dispatch(request: DispatchRequest): Promise<EngineReply>;
  /** Requests running or waiting for a slot of `model`. */
  load(model: string): { running: number; waiting: number; concurrency: number };
  close(): Promise<void>;
}
