/**
 * How one process's view of PostgreSQL's reachability turns into log lines: one when an outage starts and
 * one when it ends, not one per failed call. The outage test (test/hardening/database-outage.test.ts) drops
 * real connections; this pins down the race it met once: an answer already on the wire when the
 * connections dropped arrived after the outage was logged, "ended" it, and the next failure logged it again.
 */
import { describe, expect, it } from "vitest";
import { DatabaseReachability } from "../../src/store/postgres/reachability.ts";
import { captureLog } from "../helpers/log-capture.ts";

const dropped = new Error("Connection terminated unexpectedly");

describe("database reachability", () => {
  it("does not end an outage on the answer to a call that started before it", () => {
    const log = captureLog();
    const reachability = new DatabaseReachability("127.0.0.1:5432/spool", log.logger);
    const before = reachability.epoch;
    reachability.lost(dropped);
    reachability.answered(before);
    expect(reachability.isReachable).toBe(false);
    reachability.lost(Object.assign(new Error("read ECONNRESET"), { code: "ECONNRESET" }));
    expect(log.lines.map((line) => line.msg)).toEqual(["the database is unreachable: requests answer 503 and background work waits until it is back"]);

    // A call made during the outage that is answered ends it; the next outage is logged again.
    const during = reachability.epoch;
    reachability.answered(during);
    expect(reachability.isReachable).toBe(true);
    reachability.lost(dropped);
    expect(log.lines.map((line) => [line.level, line.msg])).toEqual([
      [50, "the database is unreachable: requests answer 503 and background work waits until it is back"],
      [30, "the database is reachable again"],
      [50, "the database is unreachable: requests answer 503 and background work waits until it is back"],
    ]);
  });
});
