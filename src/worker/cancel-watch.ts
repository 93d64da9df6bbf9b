/**
 * Cancels made through other processes, found by looking (decision 0047).
 *
 * A cancel stops the running requests of the process that takes it (Dispatcher.cancelBatch); processes
 * sharing PostgreSQL hear of it as a work event (decision 0046). But an announcement is not durable: one
 * sent while a listener reconnects is lost, and through PgBouncer in transaction mode none arrive. Then the
 * Items another process holds ran to their end, each as long as its generation takes, and the Batch sat in
 * `cancelling` until they did. So every `everyMs` the Worker asks the Store which of the Batches it holds
 * Items of were cancelled (one indexed read, only while it holds Items of a Batch not already known
 * cancelled here) and stops them as a local cancel does. The work event stays the fast path; this one
 * bounds how late a cancel can be.
 */
import type { Logger } from "pino";
import { isStorageFailure } from "../core/errors.ts";
import type { Dispatcher } from "../core/dispatcher.ts";
import type { Store } from "../store/store.ts";

export interface CancelWatchDeps {
  store: Store;
  dispatcher: Dispatcher;
  logger: Logger;
  /** How often to look (the Worker passes `worker.sweepMs`). */
  everyMs: number;
  /** The Batches this process holds Items of now. */
  heldBatches: () => Iterable<string>;
}

export class CancelWatch {
  private timer: NodeJS.Timeout | null = null;
  private looking = false;

  constructor(private readonly deps: CancelWatchDeps) {}

  start(): void {
    if (this.timer !== null) return;
    this.timer = setInterval(() => void this.look(), this.deps.everyMs);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
  }

  /** One look; resolves with the Batches it stopped here. */
  async look(): Promise<string[]> {
    const { store, dispatcher, logger } = this.deps;
    if (this.looking) return [];
    const unknown = [...this.deps.heldBatches()].filter((batchId) => !dispatcher.cancelled.has(batchId));
    if (unknown.length === 0) return [];
    this.looking = true;
    try {
      const stopped: string[] = [];
      for (const batchId of await store.cancelledBatches(unknown)) {
        // Heard meanwhile (its work event, or a cancel taken here) and already stopped.
        if (dispatcher.cancelled.has(batchId)) continue;
        logger.info({ batchId }, "batch was cancelled through another process: stopping its requests here");
        dispatcher.cancelBatch(batchId);
        stopped.push(batchId);
      }
      return stopped;
    } catch (error) {
      // The Store logs an outage once; the next look tries again.
      if (!isStorageFailure(error)) logger.warn({ err: error }, "looking for cancelled batches failed");
      return [];
    } finally {
      this.looking = false;
    }
  }
}
