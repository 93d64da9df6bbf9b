import { execFile } from "node:child_process";
import { fileURLToPath } from "node:url";
import { pino } from "pino";
import { describe, expect, it } from "vitest";
import { turnBatchedDestination } from "../../src/observability/log-destination.ts";

const nextTurn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

function recording(): { writes: string[]; logger: pino.Logger } {
  const writes: string[] = [];
  const logger = pino({ level: "info", base: null, timestamp: false }, turnBatchedDestination(1, (text) => writes.push(text)));
  return { writes, logger };
}

describe("turnBatchedDestination", () => {
  it("writes the lines of one turn of the event loop in one write, in order, when the turn ends", async () => {
    const { writes, logger } = recording();
    logger.info("one");
    logger.info("two");
    logger.warn("three");
    expect(writes).toEqual([]);
    await nextTurn();
    expect(writes).toHaveLength(1);
    expect(writes[0]!.trimEnd().split("\n").map((line) => (JSON.parse(line) as { msg: string }).msg)).toEqual(["one", "two", "three"]);
    logger.info("four");
    await nextTurn();
    expect(writes).toHaveLength(2);
    expect(writes[1]).toContain('"msg":"four"');

    // pino's own flush writes what is held at once.
    logger.info("five");
    let flushed = false;
    logger.flush(() => (flushed = true));
    expect(flushed).toBe(true);
    expect(writes).toHaveLength(3);
    expect(writes[2]).toContain('"msg":"five"');
  });

  it("writes an error or fatal line at once, after what its turn logged before it", async () => {
    const { writes, logger } = recording();
    logger.info("before");
    logger.error("broken");
    expect(writes).toHaveLength(1);
    expect(writes[0]!.indexOf('"before"')).toBeLessThan(writes[0]!.indexOf('"broken"'));
    logger.fatal("dying");
    expect(writes).toHaveLength(2);
    await nextTurn();
    expect(writes).toHaveLength(2);
  });

  it("drops what cannot be written instead of throwing, and writes again once it can", async () => {
    const writes: string[] = [];
    let broken = true;
    const logger = pino({ level: "info", base: null, timestamp: false }, turnBatchedDestination(1, (text) => {
      if (broken) throw new Error("ENOSPC: no space left on device, write");
      writes.push(text);
    }));
    logger.info("lost");
    await nextTurn(); // the write throws in the turn's end: an uncaught exception would fail the test
    expect(() => logger.error("also lost")).not.toThrow();
    broken = false;
    logger.info("kept");
    await nextTurn();
    expect(writes).toHaveLength(1);
    expect(writes[0]).toContain('"msg":"kept"');
    expect(writes[0]).not.toContain("lost");
  });

  it("does not hold more than 64 KiB in one turn", () => {
    const { writes, logger } = recording();
    const filler = "x".repeat(1_000);
    for (let i = 0; i < 100; i += 1) logger.info({ filler }, "line");
    expect(writes.length).toBeGreaterThanOrEqual(1);
    expect(writes.every((text) => text.length <= 64 * 1024 + 1_100)).toBe(true);
  });

  it("writes what a process held when it dies of an uncaught exception or calls process.exit", async () => {
    const script = fileURLToPath(new URL("./log-destination-child.ts", import.meta.url));
    for (const ending of ["throw", "exit"]) {
      const stdout = await new Promise<string>((resolve) => {
        execFile(process.execPath, ["--import", "tsx", script, ending], (_error, out) => resolve(out));
      });
      const messages = stdout.trimEnd().split("\n").map((line) => (JSON.parse(line) as { msg: string }).msg);
      expect(messages).toEqual(["first", "last words"]);
    }
  });
});
