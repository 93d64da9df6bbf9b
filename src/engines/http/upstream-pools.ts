/**
 * Keep-alive connection pools for HTTP Engines (openai, gemini), one per Model and upstream origin.
 *
 * A pool has exactly as many connections as its Model's concurrency: the Dispatcher never runs more
 * requests of a Model at once, so a request never queues inside undici (where its per-attempt timeout
 * would tick while it waits for a socket), and an upstream is never opened more sockets than spool can use.
 * Rejected alternative: one pool per origin shared by every Model on it. Its size would have to be the
 * sum of those Models' concurrencies, known only once every Model has been seen, and a busy Model could
 * then hold the sockets a quiet one needs.
 */
import { Pool } from "undici";
import { EngineError } from "../../core/engine.ts";

export interface PoolOptions {
  /** Usually the Model name; requests of different keys never share connections. */
  key: string;
  /** `scheme://host:port` of the upstream. */
  origin: string;
  connections: number;
}

export class UpstreamPools {
  private readonly pools = new Map<string, Pool>();
  private closed = false;

  get(options: PoolOptions): Pool {
    const id = `${options.key}\u0000${options.origin}\u0000${options.connections}`;
    let pool = this.pools.get(id);
    if (pool === undefined) {
      if (this.closed) throw closedError();
      pool = new Pool(options.origin, {
        connections: options.connections,
        pipelining: 1,
        // The caller's AbortSignal carries the per-attempt timeout (Model.timeoutMs, often minutes for
        // long generations); undici's own 300 s header/body timeouts would cut those short.
        headersTimeout: 0,
        bodyTimeout: 0,
      });
      this.pools.set(id, pool);
    }
    return pool;
  }

  /** Closes every pool, destroying sockets still in use (their requests fail as aborted/network). */
  async close(): Promise<void> {
    this.closed = true;
    const pools = [...this.pools.values()];
    this.pools.clear();
    await Promise.all(pools.map((pool) => pool.destroy()));
  }
}

/** Work arriving after close is part of a shutdown: "aborted", so the Worker returns the Item to the pool. */
export function closedError(): EngineError {
  return new EngineError({ kind: "aborted", message: "The engine is closed (spool is shutting down).", retryable: false });
}
