/**
 * Work events over PostgreSQL LISTEN/NOTIFY (decision 0046): what one process commits — a Batch created,
 * started, its failed Items retried, its Items released, a Batch cancelled — the other processes on the
 * schema hear at once; the announcing process does not hear itself, and another schema hears nothing. A
 * listener whose connection is cut off reconnects by itself and asks for a resync. A listening connection
 * that cannot hear what the pool sends (another database, PgBouncer) is reported; `listenUrl` (the
 * `databaseListenUrl` setting) sends the listening connection elsewhere.
 */
import { afterEach, describe, expect, it } from "vitest";
import { openPostgresStore, type PostgresStore } from "../../src/store/postgres/index.ts";
import type { StoreLogger } from "../../src/store/shared/store-logger.ts";
import { channelFor, parseAnnouncement, announcement } from "../../src/store/postgres/work-events-pg.ts";
import type { WorkEvent, WorkEventFeed, WorkEventFeedOptions } from "../../src/store/work-events.ts";
import { startTcpProxy, type TcpProxy } from "../helpers/tcp-proxy.ts";
import { openTestPostgresStores, postgresUnavailableReason, TEST_DATABASE_URL, withClient } from "../helpers/postgres.ts";
import { waitFor } from "../helpers/wait-for.ts";
import { completion, LEASE_MS, MODEL, newBatch, startedBatch, T0 } from "./store-fixtures.ts";

const available = (await postgresUnavailableReason()) === null;

interface Heard {
  events: WorkEvent[];
  resyncs: number;
  feed: WorkEventFeed;
}

const opened: PostgresStore[] = [];
const feeds: WorkEventFeed[] = [];
let proxy: TcpProxy | null = null;

afterEach(async () => {
  for (const feed of feeds.splice(0)) await feed.close();
  for (const store of opened.splice(0)) await store.close();
  await proxy?.close();
  proxy = null;
});

async function stores(name: string, count: number): Promise<{ schema: string; stores: PostgresStore[] }> {
  const result = await openTestPostgresStores(name, count);
  opened.push(...result.stores);
  return result;
}

async function listen(store: PostgresStore, options: WorkEventFeedOptions = {}): Promise<Heard> {
  const heard: Heard = { events: [], resyncs: 0, feed: { close: async () => undefined } };
  heard.feed = await store.listenForWork({ event: (event) => heard.events.push(event), resync: () => (heard.resyncs += 1) }, options);
  feeds.push(heard.feed);
  return heard;
}

interface LoggedLine {
  level: "error" | "warn" | "info";
  fields: Record<string, unknown>;
  message: string;
}

function capturingLogger(): { logger: StoreLogger; lines: LoggedLine[] } {
  const lines: LoggedLine[] = [];
  const at = (level: LoggedLine["level"]) => (fields: Record<string, unknown>, message?: string) => void lines.push({ level, fields, message: message ?? "" });
  return { logger: { error: at("error"), warn: at("warn"), info: at("info") } as unknown as StoreLogger, lines };
}

async function terminateListeners(schema: string): Promise<number> {
  let terminated = 0;
  await withClient(async (client) => {
    const { rowCount } = await client.query(
      "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'spool-listener' AND query = $1",
      [`LISTEN "${channelFor(schema)}"`],
    );
    terminated = rowCount ?? 0;
  });
  return terminated;
}

describe("work event payloads", () => {
  it("names one channel per schema within PostgreSQL's 63 bytes, and skips its own announcements", () => {
    expect(channelFor("spool_prod")).toBe("spool_work_spool_prod");
    const long = "s".repeat(63);
    expect(Buffer.byteLength(channelFor(long))).toBeLessThanOrEqual(63);
    expect(channelFor(long)).not.toBe(channelFor(`${"s".repeat(62)}t`));
    expect(parseAnnouncement(announcement("claimable", "batch_1", "me"), "other")).toEqual({ kind: "claimable", batchId: "batch_1" });
    expect(parseAnnouncement(announcement("claimable", null, "me"), "other")).toEqual({ kind: "claimable", batchId: null });
    expect(parseAnnouncement(announcement("cancelled", "batch_1", "me"), "me")).toBeNull();
    expect(parseAnnouncement("exploded batch_1 x", "me")).toBeNull();
    expect(parseAnnouncement(undefined, "me")).toBeNull();
  });
});

describe.skipIf(!available)("postgres work events", () => {
  it("tells the other processes on the schema what one committed, and nobody else", async () => {
    const { stores: [a, b] } = await stores("work events reach others", 2);
    const { stores: [elsewhere] } = await stores("work events other schema", 1);
    const [fromA, fromB, fromElsewhere] = await Promise.all([listen(a!), listen(b!), listen(elsewhere!)]);

    const started = await startedBatch(a!, 3);
    await waitFor(() => fromB.events.length >= 2, { what: "created and claimable heard by the other process" });
    expect(fromB.events).toEqual([
      { kind: "created", batchId: started.id },
      { kind: "claimable", batchId: started.id },
    ]);

    // Items a Worker gives back on shutdown are claimable again, for everyone.
    await a!.claimItems({ owner: "w", model: MODEL, limit: 3, nowMs: T0 + 2, leaseMs: LEASE_MS });
    expect(await a!.releaseItems("w")).toBe(3);
    await a!.cancelBatch(started.id, T0 + 3);
    await waitFor(() => fromB.events.length >= 4, { what: "release and cancel heard" });
    expect(fromB.events.slice(2)).toEqual([
      { kind: "claimable", batchId: null },
      { kind: "cancelled", batchId: started.id },
    ]);

    // B's own changes reach A the same way.
    const other = await b!.createBatch(newBatch());
    await waitFor(() => fromA.events.length >= 1, { what: "A hears B" });
    expect(fromA.events).toEqual([{ kind: "created", batchId: other.id }]);
    // Nobody heard itself, and the other schema heard nothing at all.
    expect(fromB.events.some((event) => event.batchId === other.id)).toBe(false);
    expect(fromElsewhere.events).toEqual([]);
    expect(fromA.resyncs + fromB.resyncs).toBe(0);
  });

  it("tells the process writing a Batch's results early when another finishes its last Items (decision 0061)", async () => {
    const { stores: [writer, other] } = await stores("work events finished", 2);
    const fromWriter = await listen(writer!);
    const finishing = async (holder: PostgresStore | null): Promise<string> => {
      const batch = await startedBatch(other!, 3);
      if (holder !== null) expect(await holder.takeResultsWriter(batch.id, { owner: holder === writer ? "writer" : "w", nowMs: T0 + 1, leaseMs: LEASE_MS })).toBe(true);
      const claimed = await other!.claimItems({ owner: "w", model: MODEL, limit: 3, nowMs: T0 + 2, leaseMs: LEASE_MS });
      // Not yet the last: nobody is told.
      await other!.completeItems([completion(claimed[0]!, "w", T0 + 3)], T0 + 3);
      await other!.completeItems(claimed.slice(1).map((item) => completion(item, "w", T0 + 4)), T0 + 4);
      return batch.id;
    };
    // No writer, or the finishing process writes it itself: a look after its own results finalizes it.
    const unwritten = await finishing(null);
    const ownWriter = await finishing(other!);
    const handed = await finishing(writer!);
    await waitFor(() => fromWriter.events.some((event) => event.kind === "finished"), { what: "the writer told" });
    const finished = fromWriter.events.filter((event) => event.kind === "finished");
    expect(finished).toEqual([{ kind: "finished", batchId: handed }]);
    expect([unwritten, ownWriter]).not.toContain(handed);
    expect(await writer!.findBatchesToFinalize(T0 + 5, 10, [handed], "writer")).toEqual([{ batchId: handed, status: "completed" }]);
  });

  it("listens again after its connection is cut off, and asks for a resync", async () => {
    const { schema, stores: [a, b] } = await stores("work events reconnect", 2);
    const fromB = await listen(b!);
    expect(await terminateListeners(schema)).toBe(1);
    await waitFor(() => fromB.resyncs === 1, { what: "the listener back, asking for a resync", timeoutMs: 5_000 });
    const created = await a!.createBatch(newBatch());
    await waitFor(() => fromB.events.length >= 1, { what: "an event heard on the new connection" });
    expect(fromB.events).toEqual([{ kind: "created", batchId: created.id }]);
  });

  it("reconnects when its connection goes quiet without closing (a forgotten NAT entry), found by its ping", async () => {
    const { schema, stores: [a] } = await stores("work events stalled", 1);
    const target = new URL(TEST_DATABASE_URL);
    proxy = await startTcpProxy({ host: target.hostname, port: Number(target.port || 5432) });
    target.port = String(proxy.port);
    const viaProxy = await openPostgresStore(target.toString(), { schema });
    opened.push(viaProxy);
    const heard = await listen(viaProxy, { pingMs: 200 });
    await a!.createBatch(newBatch());
    await waitFor(() => heard.events.length === 1, { what: "an event through the proxy" });
    proxy.stall();
    const unheard = await a!.createBatch(newBatch());
    await waitFor(() => heard.resyncs === 1, { what: "the quiet connection replaced, and a resync", timeoutMs: 5_000 });
    expect(heard.events.map((event) => event.batchId)).not.toContain(unheard.id);
    // Silent connections are closed, not left to TCP keepalive (hours): the listener's when its ping times out,
    // and the pool's once the hearing check sent on it gives up (decision 0048's notify timeout).
    await waitFor(() => proxy!.stalledOpen === 0, { what: "the stalled connections closed by spool", timeoutMs: 10_000 });
    const after = await a!.createBatch(newBatch());
    await waitFor(() => heard.events.length === 2, { what: "an event on the new connection" });
    expect(heard.events[1]).toEqual({ kind: "created", batchId: after.id });
  });

  it("lets an announcement under way finish before the Store closes, so closing logs no outage", async () => {
    const { schema, stores: [a] } = await stores("work events close after change", 1);
    const errors: string[] = [];
    const logger = { error: (_fields: unknown, message?: string) => void errors.push(message ?? ""), warn: () => undefined, info: () => undefined };
    const store = await openPostgresStore(TEST_DATABASE_URL, { schema, logger: logger as unknown as StoreLogger });
    const listener = await listen(a!);
    const created = await store.createBatch(newBatch());
    // Closed right after the change answered: its announcement is still on its way.
    await store.close();
    expect(errors).toEqual([]);
    await waitFor(() => listener.events.length >= 1, { what: "the announcement heard" });
    expect(listener.events).toEqual([{ kind: "created", batchId: created.id }]);
  });

  it("listens where listenUrl points, and says nothing when it hears its own check", async () => {
    const { schema, stores: [a] } = await stores("work events listen url", 1);
    // The pool goes through a TCP proxy (standing in for a pooler); the listener connects directly.
    const target = new URL(TEST_DATABASE_URL);
    proxy = await startTcpProxy({ host: target.hostname, port: Number(target.port || 5432) });
    const viaProxy = new URL(TEST_DATABASE_URL);
    viaProxy.port = String(proxy.port);
    const logged = capturingLogger();
    const b = await openPostgresStore(viaProxy.toString(), { schema, listenUrl: TEST_DATABASE_URL, logger: logged.logger });
    opened.push(b);
    const heard = await listen(b, { hearMs: 1_000 });
    // Its check went out through the proxied pool and came back on the direct connection: no warning.
    await new Promise((resolve) => setTimeout(resolve, 1_200));
    expect(logged.lines).toEqual([]);
    // Taking the proxy away does not touch the listener: it was never behind it.
    await proxy.cut();
    const created = await a!.createBatch(newBatch());
    await waitFor(() => heard.events.length >= 1, { what: "an event on the direct listening connection" });
    expect(heard.events).toEqual([{ kind: "created", batchId: created.id }]);
    expect(heard.resyncs).toBe(0);
    expect(logged.lines.filter((line) => /listening for other processes/.test(line.message))).toEqual([]);
  });

  it("warns once when its listening connection cannot hear the pool's database, and keeps listening", async () => {
    const { stores: [a] } = await stores("work events deaf", 1);
    const logged = capturingLogger();
    // Another database of the same server: LISTEN works there, but NOTIFY is per database.
    const elsewhere = new URL(TEST_DATABASE_URL);
    elsewhere.pathname = "/template1";
    const deaf = await openPostgresStore(TEST_DATABASE_URL, { schema: a!.db.schema, listenUrl: elsewhere.toString(), logger: logged.logger });
    opened.push(deaf);
    const heard = await listen(deaf, { hearMs: 300 });
    await waitFor(() => logged.lines.some((line) => line.level === "warn"), { what: "the deafness reported", timeoutMs: 5_000 });
    const warnings = logged.lines.filter((line) => line.level === "warn");
    expect(warnings).toHaveLength(1);
    expect(warnings[0]!.message).toMatch(/does not hear the wake-ups.*PgBouncer in transaction mode.*databaseListenUrl/);
    expect(warnings[0]!.fields).toMatchObject({ listeningTo: expect.stringMatching(/\/template1$/) });
    // Announcements from the pool's database do not arrive; nothing was parsed out of the check either.
    await a!.createBatch(newBatch());
    await new Promise((resolve) => setTimeout(resolve, 500));
    expect(heard.events).toEqual([]);
    expect(heard.resyncs).toBe(0);
  });

  it("still reaches a finding when a reconnect replaces the check under way", async () => {
    const { schema, stores: [a] } = await stores("work events check replaced", 1);
    const logged = capturingLogger();
    const elsewhere = new URL(TEST_DATABASE_URL);
    elsewhere.pathname = "/template1";
    const deaf = await openPostgresStore(TEST_DATABASE_URL, { schema: a!.db.schema, listenUrl: elsewhere.toString(), logger: logged.logger });
    opened.push(deaf);
    await listen(deaf, { hearMs: 1_500 });
    // Cut while the first check waits: the reconnect starts a second check, whose own wait must still end.
    expect(await terminateListeners(schema)).toBe(1);
    await waitFor(() => logged.lines.some((line) => /does not hear/.test(line.message)), { what: "the second check's finding", timeoutMs: 8_000 });
    expect(logged.lines.filter((line) => /does not hear/.test(line.message))).toHaveLength(1);
  });

  it("does not warn about a listener that hears (the default URL), after a reconnect either", async () => {
    const { schema, stores: [b] } = await stores("work events hears", 1);
    const logged = capturingLogger();
    const store = await openPostgresStore(TEST_DATABASE_URL, { schema, logger: logged.logger });
    opened.push(store);
    const heard = await listen(store, { hearMs: 1_000 });
    expect(await terminateListeners(schema)).toBe(1);
    await waitFor(() => heard.resyncs === 1, { what: "the listener back", timeoutMs: 5_000 });
    const created = await b!.createBatch(newBatch());
    await waitFor(() => heard.events.length >= 1, { what: "an event after the reconnect" });
    expect(heard.events).toEqual([{ kind: "created", batchId: created.id }]);
    await new Promise((resolve) => setTimeout(resolve, 1_200));
    // The drop and the return are logged; no deafness.
    expect(logged.lines.map((line) => line.level)).toEqual(["warn", "info"]);
    expect(logged.lines[0]!.message).toMatch(/dropped/);
  });

  it("takes back its warning when the check it gave up on arrives late: a slow round trip, not a deaf connection", async () => {
    const { schema } = await stores("work events late check", 1);
    const logged = capturingLogger();
    // The listener's path delays what the server sends by 400 ms; the check waits 100 ms.
    const target = new URL(TEST_DATABASE_URL);
    proxy = await startTcpProxy({ host: target.hostname, port: Number(target.port || 5432) }, { delayMs: 400 });
    target.port = String(proxy.port);
    const store = await openPostgresStore(TEST_DATABASE_URL, { schema, logger: logged.logger, listenUrl: target.toString() });
    opened.push(store);
    const findings: boolean[] = [];
    const feed = await store.listenForWork({ event: () => undefined, resync: () => undefined, hearing: (hears) => void findings.push(hears) }, { hearMs: 100 });
    feeds.push(feed);
    await waitFor(() => findings.length === 2, { what: "the late check heard" });
    expect(findings).toEqual([false, true]);
    expect(logged.lines.map((line) => [line.level, line.fields.how])).toEqual([
      ["warn", undefined],
      ["info", "its check arrived late"],
    ]);
  });

  it("stops for good when closed: no reconnect, no more events", async () => {
    const { stores: [a, b] } = await stores("work events close", 2);
    const fromB = await listen(b!);
    await fromB.feed.close();
    await a!.createBatch(newBatch());
    // A new listener hearing the next one proves announcements still go out; the closed one heard neither.
    const again = await listen(b!);
    const second = await a!.createBatch(newBatch());
    await waitFor(() => again.events.length >= 1, { what: "the open listener hears" });
    expect(again.events).toEqual([{ kind: "created", batchId: second.id }]);
    expect(fromB.events).toEqual([]);
  });
});
