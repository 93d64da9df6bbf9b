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
 *
 * Hearing check: a listening connection can be open, answer its ping, and still never receive anything.
 * Through PgBouncer in transaction mode, LISTEN runs on whichever server connection the statement got and
 * the notifications go to whoever holds that connection next; a `databaseListenUrl` naming another database
 * hears that database's channel. So after each (re)connect the feed sends one check through the pool, the
 * way announcements travel, and expects it back within `hearMs`. Not heard: one warning saying why and
 * what to set, until a later reconnect hears it again, or the check itself arrives late (a slow server,
 * not a deaf connection). The feed keeps listening either way (the polls carry the work; the check only
 * makes a silent degradation visible).
 */
import { createHash, randomBytes } from "node:crypto";
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
const DEFAULT_HEAR_MS = 5_000;
/** The hearing check's payload kind: not an event kind, so every feed but its sender's ignores it. */
const CHECK_KIND = "check";
const KINDS: ReadonlySet<string> = new Set<WorkEventKind>(["created", "claimable", "cancelled", "finished"]);

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
  /** Sends `payload` on the channel the way announcements go (through the pool): the hearing check. */
  notify: (payload: string) => Promise<void>;
  /** Where the listening connection goes, without credentials, for the logs. */
  target: string;
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
  /**
   * The hearing check of the current connection, kept until the next connect: its payload, whether it came
   * back, whether the wait for it has concluded, and what ends that wait (true: it came back). It can come
   * back after the wait gave up, before or after the check's own NOTIFY answered; either way the connection
   * hears (a slow round trip, not a deaf connection). The timer is the check's own: a check replaced by a
   * reconnect must not clear its successor's.
   */
  private check: { payload: string; arrived: boolean; concluded: boolean; settle: (heard: boolean) => void; timer: NodeJS.Timeout | null } | null = null;
  /** The last check's finding; null before the first one ended. */
  private hearing: boolean | null = null;

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
      const check = this.check;
      if (check !== null && message.payload === check.payload) {
        if (check.arrived) return;
        check.arrived = true;
        // Concluded, it was found not heard: take that back.
        return check.concluded ? this.found(true, "its check arrived late") : check.settle(true);
      }
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
    void this.checkHearing(client);
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
    this.check?.settle(false);
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

  /** The hearing check (see the top of this file), on a connection that just started listening. */
  private async checkHearing(client: pg.Client): Promise<void> {
    this.check?.settle(false); // a check from the connection before this one
    const payload = `${CHECK_KIND} - ${this.options.origin} ${randomBytes(6).toString("hex")}`;
    const check = { payload, arrived: false, concluded: false, settle: (_heard: boolean): void => undefined, timer: null as NodeJS.Timeout | null };
    this.check = check;
    const heard = new Promise<boolean>((resolve) => {
      check.settle = resolve;
      check.timer = setTimeout(() => resolve(false), this.options.hearMs ?? DEFAULT_HEAR_MS);
      check.timer.unref();
    });
    try {
      await this.options.notify(payload);
    } catch {
      // The pool cannot reach the database: announcements are not going out either, and the outage is
      // logged by the pool. Nothing is learnt about the listening connection.
      if (check.timer !== null) clearTimeout(check.timer);
      if (this.check === check) this.check = null;
      return;
    }
    const hears = (await heard) || check.arrived;
    if (check.timer !== null) clearTimeout(check.timer);
    if (client !== this.client || this.closed || this.check !== check) return;
    check.concluded = true;
    this.found(hears, null);
  }

  /** A check's finding: told to the listener every time, logged when it changes. */
  private found(hears: boolean, how: string | null): void {
    this.listener.hearing?.(hears);
    if (hears === this.hearing) return;
    const fields = { channel: this.options.channel, listeningTo: this.options.target, ...(how === null ? {} : { how }) };
    if (!hears) {
      this.options.logger.warn(
        fields,
        "this process does not hear the wake-ups sent through databaseUrl: its listening connection receives no NOTIFY (PgBouncer in transaction mode does not carry LISTEN: " +
          "set databaseListenUrl to a direct connection to PostgreSQL; or databaseListenUrl names another database). Processes learn of each other's work by polling only (worker.pollMs, worker.sweepMs)",
      );
    } else if (this.hearing === false) {
      this.options.logger.info(fields, "this process hears the wake-ups sent through databaseUrl again");
    }
    this.hearing = hears;
  }

  private scheduleRetry(): void {
    if (this.closed || this.retryTimer !== null) return;
    const delay = this.retryMs;
    this.retryMs = Math.min(MAX_RECONNECT_MS, this.retryMs * 2);
    this.retryTimer = setTimeout(() => void this.connect(true), delay);
    this.retryTimer.unref();
  }
}
