/**
 * Whether PostgreSQL answers, as this process sees it, shared by its pools (the Store's and the
 * BlobStore's). An outage is logged once when it starts and once when it ends, not once per request or
 * per retry of a background loop: while it lasts, API requests answer 503 (logged at debug level by the
 * API) and the Workers and the Sweeper back off quietly.
 */
import { silentStoreLogger, type StoreLogger } from "../shared/store-logger.ts";

export class DatabaseReachability {
  private reachable = true;

  constructor(
    private readonly target: string,
    private readonly logger: StoreLogger = silentStoreLogger,
  ) {}

  get isReachable(): boolean {
    return this.reachable;
  }

  /** A call failed because the database could not be reached. */
  lost(error: unknown): void {
    if (!this.reachable) return;
    this.reachable = false;
    const { code, message } = (error ?? {}) as { code?: unknown; message?: unknown };
    this.logger.error(
      { database: this.target, code: typeof code === "string" ? code : undefined, reason: typeof message === "string" ? message : String(error) },
      "the database is unreachable: requests answer 503 and background work waits until it is back",
    );
  }

  /** A call succeeded. */
  answered(): void {
    if (this.reachable) return;
    this.reachable = true;
    this.logger.info({ database: this.target }, "the database is reachable again");
  }
}
