/**
 * Whether PostgreSQL answers, as this process sees it, shared by its pools (the Store's and the
 * BlobStore's). An outage is logged once when it starts and once when it ends, not once per request or
 * per retry of a background loop: while it lasts, API requests answer 503 (logged at debug level by the
 * API) and the Workers and the Sweeper back off quietly.
 */
import { silentStoreLogger, type StoreLogger } from "../shared/store-logger.ts";

export class DatabaseReachability {
  private reachable = true;
  /**
   * Outages seen so far. A call reports the number it started under: one that started before the outage
   * began (its answer was on the wire when the connections dropped) proves nothing about the database now,
   * and ending the outage on it logged the same outage twice.
   */
  private outages = 0;

  constructor(
    private readonly target: string,
    private readonly logger: StoreLogger = silentStoreLogger,
  ) {}

  get isReachable(): boolean {
    return this.reachable;
  }

  /** Taken when a call starts, and handed back to `answered`. */
  get epoch(): number {
    return this.outages;
  }

  /** A call failed because the database could not be reached. */
  lost(error: unknown): void {
    if (!this.reachable) return;
    this.reachable = false;
    this.outages += 1;
    const { code, message } = (error ?? {}) as { code?: unknown; message?: unknown };
    this.logger.error(
      { database: this.target, code: typeof code === "string" ? code : undefined, reason: typeof message === "string" ? message : String(error) },
      "the database is unreachable: requests answer 503 and background work waits until it is back",
    );
  }

  /** A call that started at `epoch` succeeded. */
  answered(epoch: number = this.outages): void {
    if (this.reachable || epoch !== this.outages) return;
    this.reachable = true;
    this.logger.info({ database: this.target }, "the database is reachable again");
  }
}
