/**
 * Wake-ups between the processes that share one database (decision 0046). Each process already wakes its
 * own Sweeper and Worker when it creates, starts or cancels a Batch; the others used to find out by polling
 * (`worker.pollMs`, 500 ms by default), and a cancel reached requests running in other processes not at
 * all: they ran to the end, paid for, and their results were thrown away.
 *
 * A Store shared by processes (PostgreSQL: LISTEN/NOTIFY) announces each change once it is committed, and
 * every other process listening on the same schema hears it. The announcements only wake: they are not
 * durable (one sent while a listener is reconnecting is lost), so polling stays as it was and remains what
 * guarantees progress; a listener that was cut off is told to `resync` (look at everything once) when it is
 * back. A process never hears its own announcements: it has already acted on them.
 */

/**
 * - `created`: a Batch waits for validation (any process's Sweeper may take it);
 * - `claimable`: Items became pending (a Batch started, a retry, Items released or reclaimed): Workers
 *   read their queues again;
 * - `cancelled`: a Batch was cancelled or deleted: its requests running or queued here stop now;
 * - `finished`: a Batch's last Items finished, and another process holds its results writer Lease
 *   (decision 0061): that process finalizes it, now rather than at its next periodic sweep.
 */
export type WorkEventKind = "created" | "claimable" | "cancelled" | "finished";

export interface WorkEvent {
  kind: WorkEventKind;
  /** The Batch concerned; null when the change spans Batches (Items released or reclaimed). */
  batchId: string | null;
}

export interface WorkEventListener {
  /** Another process changed something this process may have work for. */
  event(event: WorkEvent): void;
  /** The feed was cut off and is back: announcements may have been missed meanwhile. */
  resync(): void;
  /**
   * What the feed's check on (re)connecting found: true when its listening connection hears what this
   * process sends through the pool, false when it does not (PgBouncer in transaction mode; decision 0048).
   */
  hearing?(hears: boolean): void;
}

/** A running subscription; `close` stops it (and its reconnects) for good. */
export interface WorkEventFeed {
  close(): Promise<void>;
}

export interface WorkEventFeedOptions {
  /**
   * How often the listening connection proves it is alive (default 30 s). A connection a NAT or load
   * balancer forgot stays open but carries nothing: without a round trip now and then, the feed would
   * wait on it forever.
   */
  pingMs?: number;
  /**
   * How long the feed waits, after each (re)connect, to hear the check it sends itself before it warns that
   * wake-ups do not reach it (default 5 s; PgBouncer in transaction mode, see work-events-pg.ts). A check
   * that arrives later still counts: the feed then hears.
   */
  hearMs?: number;
}

/** Implemented by Stores that several processes share; a Store of one process has nobody to tell. */
export interface WorkEvents {
  /** Starts listening; resolves once the first connection listens (or failed: it then keeps retrying). */
  listenForWork(listener: WorkEventListener, options?: WorkEventFeedOptions): Promise<WorkEventFeed>;
}
