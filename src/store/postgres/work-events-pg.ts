/**
 * Work events (../work-events.ts) over PostgreSQL LISTEN/NOTIFY.
 *
 * Channel: one per schema (`spool_work_<schema>`), since NOTIFY channels are database-wide and tests, like
 * deployments that share a database, keep one schema each. A schema whose channel name would pass
 * PostgreSQL's 63-byte identifier limit gets a hash of its name instead.
 *
 * Payload: `<kind> <batchId or -> <origin>`, where origin is a random token per Store instance: a process
 * skips what it announced itself. A few dozen bytes, far under NOTIFY's 8,000-byte limit.
 *
 * Announcing: after the change has committed, on a pool connection, and never failing the change: an
 * announcement that cannot be sent costs other processes a poll interval, nothing more.
 *
 * Listening: one connection of its own per process (LISTEN holds its session), outside the pool. When that
 * connection drops (server restart, a terminated backend), or stops answering its ping (`pingMs`: a
 * connection a NAT or load balancer forgot stays open and silent), it is reopened with backoff
 * (RECONNECT_MS, up to MAX_RECONNECT_MS) and the listener told to resync. A notification queued while
 * nobody listens is not replayed: this is a wake-up, and the pollers keep running underneath.
 */
import { createHash } from "node:crypto";
import type pg from "pg";
import type { StoreLogger } from "../shared/store-logger.ts";
import type { WorkEvent, WorkEventFeed, WorkEventFeedOptions, WorkEventKind, WorkEventListener } from "../work-events.ts";

const CHANNEL_PREFIX = "spool_work_";
/** PostgreSQL's identifier limit (NAMEDATALEN - 1), which channel names share. */
const MAX_CHANNEL_BYTES = 63;
const RECONNECT_MS = 250;
const DEFAULT_PING_MS = 30_000;
/** Longest a ping may take before the connection counts as gone. */
const MAX_PING_WAIT_MS = 10_000;
const MAX_RECONNECT_MS = 30_000;
const KINDS: ReadonlySet<string> = new Set<WorkEventKind>(["created", "claimable", "cancelled"]);

export function channelFor(schema: string): string {
  const plain = `${CHANNEL_PREFIX}${schema}`;
  if (Buffer.byteLength(plain) <= MAX_CHANNEL_BYTES) return plain;
  return `${CHANNEL_PREFIX}${createHash("sha256").update(schema).digest("hex").slice(0, 32)}`;
}

export function announcement(kind: WorkEventKind, batchId: string | null, origin: string): string {
  return `${kind} ${batchId ?? "-"} ${origin}`;
}

/** The event a payload announces, or null for one this process sent (or one it cannot read). */
export function parseAnnouncement(payload: string | undefined, ownOrigin: string): WorkEvent | null {
  const [kind, batchId, origin] = (payload ?? "").split(" ");
  if (kind === undefined || !KINDS.has(kind) || batchId === undefined || origin === undefined || origin === ownOrigin) return null;
  return { kind: kind as WorkEventKind, batchId: batchId === "-" ? null : batchId };
}

export interface FeedOptions extends WorkEventFeedOptions {
  channel: string;
  origin: string;
  /** A new, unconnected client with the pool's settings whose queries time out after `queryTimeoutMs` (database.ts listenerClient). */
  newClient: (queryTimeoutMs: number) => pg.Client;
  logger: StoreLogger;
}

/** Opens the feed; the first connection is awaited, later ones are retried in the background. */
export async function openWorkEventFeed(listener: WorkEventListener, options: FeedOptions): Promise<WorkEventFeed> {
  const feed = new PgWorkEventFeed(listener, options);
  await feed.connect(false);
  return feed;
}

class PgWorkEventFeed implements WorkEventFeed {
  private client: pg.Client | null = null;
  private closed = false;
  private retryMs = RECONNECT_MS;
  private retryTimer: NodeJS.Timeout | null = null;
  private pingTimer: NodeJS.Timeout | null = null;
  /** Set while the feed is down after having listened: logged once, and the listener resyncs once it is back. */
  private lostAt: number | null = null;

  constructor(
    private readonly listener: WorkEventListener,
    private readonly options: FeedOptions,
  ) {}

  async connect(isRetry: boolean): Promise<void> {
    this.retryTimer = null;
    if (this.closed) return;
    const client = this.options.newClient(Math.min(this.options.pingMs ?? DEFAULT_PING_MS, MAX_PING_WAIT_MS));
    // Until LISTEN has succeeded, a failure is handled by the catch below; "error" must still have a
    // listener, or pg's emit would throw it out of the socket callback and end the process.
    client.on("error", (error) => this.dropped(client, error));
    client.on("end", () => this.dropped(client, null));
    client.on("notification", (message) => {
      if (message.channel !== this.options.channel) return;
      const event = parseAnnouncement(message.payload, this.options.origin);
      if (event !== null) this.listener.event(event);
    });
    try {
      await client.connect();
      await client.query(`LISTEN "${this.options.channel}"`);
    } catch (error) {
      await client.end().catch(() => undefined);
      if (!isRetry) this.options.logger.warn({ err: error, channel: this.options.channel }, "cannot listen for other processes' work events: polling only until the connection comes back");
      this.scheduleRetry();
      return;
    }
    if (this.closed) {
      await client.end().catch(() => undefined);
      return;
    }
    this.client = client;
    this.retryMs = RECONNECT_MS;
    this.startPinging(client);
    if (this.lostAt !== null || isRetry) {
      if (this.lostAt !== null) this.options.logger.info({ channel: this.options.channel, downMs: Date.now() - this.lostAt }, "listening for other processes' work events again");
      this.lostAt = null;
      this.listener.resync();
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    if (this.retryTimer !== null) clearTimeout(this.retryTimer);
    if (this.pingTimer !== null) clearInterval(this.pingTimer);
    const client = this.client;
    this.client = null;
    await client?.end().catch(() => undefined);
  }

  private dropped(client: pg.Client, error: Error | null): void {
    // Only the live client's loss matters; a client that failed to connect is retried by connect() itself.
    if (client !== this.client || this.closed) return;
    this.client = null;
    if (this.pingTimer !== null) clearInterval(this.pingTimer);
    this.pingTimer = null;
    this.lostAt = Date.now();
    this.options.logger.warn({ err: error ?? undefined, channel: this.options.channel }, "the connection listening for other processes' work events dropped: polling only until it is back");
    void client.end().catch(() => undefined);
    this.scheduleRetry();
  }

  /** A round trip every pingMs; one that fails or takes too long counts as the connection dropping. */
  private startPinging(client: pg.Client): void {
    const pingMs = this.options.pingMs ?? DEFAULT_PING_MS;
    let inFlight = false;
    this.pingTimer = setInterval(() => {
      if (inFlight) return;
      inFlight = true;
      // The client's query_timeout, set when it was created, bounds the wait for an answer.
      client.query("SELECT 1").then(
        () => (inFlight = false),
        (error: Error) => this.dropped(client, error),
      );
    }, pingMs);
    this.pingTimer.unref();
  }

  private scheduleRetry(): void {
    if (this.closed || this.retryTimer !== null) return;
    const delay = this.retryMs;
    this.retryMs = Math.min(MAX_RECONNECT_MS, this.retryMs * 2);
    this.retryTimer = setTimeout(() => void this.connect(true), delay);
    this.retryTimer.unref();
  }
}
