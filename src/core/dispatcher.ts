/**
 * The Dispatcher contract: runs requests on the Engine of their Model within that Model's concurrency,
 * retrying retryable EngineErrors with capped backoff. Used by the Worker for Batch Items and by the API's
 * synchronous endpoints, which go ahead of queued Batch traffic (`priority: "sync"`).
 */
import type { CallKind, Dialect } from "./types.ts";
import type { EngineReply, EngineStream } from "./engine.ts";

export interface DispatchRequest {
  model: string;
  kind: CallKind;
  dialect: Dialect;
  body: Record<string, unknown>;
  priority: "sync" | "batch";
  signal?: AbortSignal;
  /** The Batch of a Batch Item: `cancelBatch` stops it. */
  batchId?: string;
  /**
   * A Batch Item of the first claim of a Batch this process was not running: it waits ahead of the Batch
   * requests queued before it, as a retry does, so a Batch started beside a large one does not wait out
   * the large one's Items claimed ahead (decision 0062).
   */
  first?: boolean;
  /** The tenant it runs for (EngineRequest.owner); null or absent while spool has no tenants. */
  owner?: string | null;
}

/** What `dispatchItems` started: one reply per request, and how many Engine calls they make. */
export interface DispatchedItems {
  /** In request order; each settles as `dispatch` would for that request alone. */
  replies: Promise<EngineReply>[];
  /** Engine calls the requests were planned into (a pack counts once), before any fallback. */
  calls: number;
}

/** One backend of a Model as this process's Dispatcher sees it now (issue 12, part 5). */
export interface BackendLoad {
  name: string;
  running: number;
  /** Its concurrency limit now (learned below its `concurrency`, or this process's share of it). */
  concurrency: number;
  /** Batch requests it may run at once now: its limit, or less when dearer than the deadlines need. */
  allowance: number;
  breaker: "closed" | "open" | "half_open";
  /** Attempts it answered, and attempts that failed by its fault (5xx, network, timeout). */
  served: number;
  faults: number;
}

export interface Dispatcher {
  /** Resolves with the Engine's reply, or rejects with the last EngineError once retries are spent. */
  dispatch(request: DispatchRequest): Promise<EngineReply>;
  /**
   * A streamed reply (Engine.stream), run in the same lane, queue order and concurrency as `dispatch`:
   * failures before the reply begins are retried like any request; once it has begun nothing is retried
   * (the client already has part of it). The slot stays taken until the stream ends, fails, or its reader
   * stops (which aborts the Engine call, as does `signal`); the Model's timeout covers the whole reply.
   * Rejects with EngineError "unsupported" when the Model's Engine cannot stream.
   */
  dispatchStream(request: DispatchRequest): Promise<EngineStream>;
  /**
   * Batch Items claimed together. Single-input embedding requests of one Model that its Engine can pack
   * (same dialect and pack key, see Engine.packKey) share one Engine call, bounded by the Model's
   * `embeddingPack`; every other request runs as `dispatch` runs it. Sync requests are never packed: the
   * API's endpoints call `dispatch`, and a pack runs at Batch priority.
   */
  dispatchItems(requests: readonly DispatchRequest[]): DispatchedItems;
  /**
   * The Batch was cancelled (called before the cancel is answered, so no request of it starts after):
   * its requests waiting for a slot fail at once with EngineError "cancelled", as do those sleeping before
   * a retry when they wake, and any dispatched later; running ones are aborted with it too unless the
   * Dispatcher lets them finish (config `worker.cancelRunning`). Only this process's requests: other
   * processes hear of the cancel from the Store (a work event, or their Worker's look at the Batches it
   * holds Items of, Store.cancelledBatches) and call this on their own Dispatcher.
   */
  cancelBatch(batchId: string): void;
  /** The Batches cancelBatch was called for here (the most recent 10,000). */
  readonly cancelled: { has(batchId: string): boolean };
  /** Requests running or waiting for a slot of `model`. */
  load(model: string): { running: number; waiting: number; concurrency: number };
  /**
   * Slots Batch requests of `model` may hold now when that is fewer than the Model's concurrency (they yield
   * to sync requests, decision 0025); null when they may use every slot. The Worker claims ahead by it.
   */
  batchSlots(model: string): number | null;
  /** Each backend of `model`, cheapest first; empty before its first request. */
  backends(model: string): BackendLoad[];
  /**
   * Batch Items of `model` per second its queued deadlines need (the EDF demand bound over its queue):
   * a Model with several backends spills onto dearer ones only as much as this asks.
   */
  setDeadlineDemand(model: string, itemsPerSecond: number): void;
  close(): Promise<void>;
}
