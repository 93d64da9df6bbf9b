/**
 * Found by the chaos run (bench/chaos.ts): a database blip around a claim must not lose or strand its Items.
 * The claim now reads each Item's dialect in the same statement, so the hazard is a claim that commits in the
 * database while its answer never reaches the Worker (the connection drops meanwhile). Those Items are running
 * under this Worker's name with nobody running them: the heartbeat must not keep them alive (it renews only the
 * Items the Worker knows it holds), so their Lease expires, the Sweeper returns them, and they run once.
 *
 * The moment is made deterministic with real PostgreSQL: another session holds a lock on `item_requests`
 * (which the claim reads and the lane's read of the queue before it does not), so the claim waits inside the
 * database; the database path (a TCP proxy) is cut under that wait, then restored.
 */
import pg from "pg";
import { afterEach, describe, expect, it } from "vitest";
import { openPostgresStore, type PostgresStore } from "../../src/store/postgres/index.ts";
import { chatLine } from "../helpers/batch-files.ts";
import { freshTestSchema, postgresUnavailableReason, TEST_DATABASE_URL } from "../helpers/postgres.ts";
import { startTcpProxy, type TcpProxy } from "../helpers/tcp-proxy.ts";
import { waitFor } from "../helpers/wait-for.ts";
import { createLoopFixture, itemsOf, LEASE_MS, replyText, type LoopFixture } from "./loop-fixture.ts";

const available = (await postgresUnavailableReason()) === null;
const cleanups: (() => Promise<unknown>)[] = [];

afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function setUp(): Promise<{ proxy: TcpProxy; store: PostgresStore; schema: string; loops: LoopFixture; locker: pg.Client }> {
  const target = new URL(TEST_DATABASE_URL);
  const proxy = await startTcpProxy({ host: target.hostname, port: Number(target.port || 5432) });
  cleanups.push(() => proxy.close());
  const viaProxy = new URL(TEST_DATABASE_URL);
  viaProxy.host = `127.0.0.1:${proxy.port}`;
  const schema = await freshTestSchema("worker storage outage");
  const store = await openPostgresStore(viaProxy.toString(), { schema, poolSize: 4 });
  cleanups.push(() => store.close());
  await store.migrate();
  const loops = await createLoopFixture(store);
  cleanups.push(() => loops.close());
  const locker = new pg.Client({ connectionString: TEST_DATABASE_URL });
  await locker.connect();
  cleanups.push(() => locker.end());
  return { proxy, store, schema, loops, locker };
}

describe.skipIf(!available)("a Worker meeting a database outage between claim and dispatch", () => {
  it("lets Items whose claim answer was lost expire and run once, instead of keeping them leased forever", async () => {
    const { proxy, store, schema, loops, locker } = await setUp();
    const batch = await loops.startBatch([chatLine("a", "prompt a"), chatLine("b", "prompt b")]);

    await locker.query("BEGIN");
    await locker.query(`LOCK TABLE ${pg.escapeIdentifier(schema)}.item_requests IN ACCESS EXCLUSIVE MODE`);
    loops.createWorker().start();
    await waitFor(async () => {
      const { rows } = await locker.query<{ waiting: number }>(
        `SELECT count(*)::int AS waiting FROM pg_locks l JOIN pg_class c ON c.oid = l.relation
         JOIN pg_namespace n ON n.oid = c.relnamespace WHERE NOT l.granted AND n.nspname = $1 AND c.relname = 'item_requests'`,
        [schema],
      );
      return rows[0]!.waiting > 0;
    }, { what: "the Worker's claim to wait on the lock" });

    await proxy.cut();
    await locker.query("ROLLBACK");
    await proxy.restore();
    // The claim committed without its answer: the Items sit in running. Past their Lease, the Sweeper
    // returns them (the heartbeat renewed only what the Worker holds) and the Worker claims them again.
    await waitFor(async () => (await itemsOf(store, batch.id).catch(() => [])).some((item) => item.status === "running" || item.status === "succeeded"), {
      what: "the lost claim to commit",
    });
    loops.clock.advance(LEASE_MS + 1);
    await loops.createSweeper().sweep();

    const finished = await waitFor(async () => {
      const items = await itemsOf(store, batch.id).catch(() => []);
      return items.length === 2 && items.every((item) => item.status !== "running" && item.status !== "pending") ? items : undefined;
    }, { what: "both Items to have a result" });
    expect(finished.map((item) => [item.status, item.result?.errorCode ?? null])).toEqual([["succeeded", null], ["succeeded", null]]);
    expect(finished.map(replyText)).toEqual(["echo: prompt a", "echo: prompt b"]);
    expect([loops.upstream.countsByKey.get("prompt a"), loops.upstream.countsByKey.get("prompt b")]).toEqual([1, 1]);
  });
});
