import { describe, expect, it } from "vitest";
import { cliLogStream, formatDuration, ProgressDisplay } from "../../src/cli/progress.ts";

function fakeStream(tty: boolean) {
  const writes: string[] = [];
  return { writes, stream: { isTTY: tty, columns: 100, write: (text: string) => writes.push(text) > 0 } as unknown as NodeJS.WriteStream };
}

describe("progress display", () => {
  it("redraws one bar line in place on a terminal with percent, rate and ETA", () => {
    let now = 0;
    const { writes, stream } = fakeStream(true);
    const display = new ProgressDisplay({ stream, now: () => now });
    display.update({ phase: "validating", done: 0, total: 0, failed: 0 });
    // 2 s of model loading with nothing done, then 10 requests a second.
    for (let t = 0; t <= 2_000; t += 200) {
      now = 1_000 + t;
      display.update({ phase: "running", done: 20, total: 100, failed: 0 });
    }
    for (let t = 200; t <= 4_000; t += 200) {
      now = 3_000 + t;
      display.update({ phase: "running", done: 20 + t / 100, total: 100, failed: 1 });
    }
    display.finish();
    expect(writes.every((text) => text.startsWith("\r") || text === "\n")).toBe(true);
    expect(writes[writes.length - 1]).toBe("\n");
    const last = writes[writes.length - 2] ?? "";
    // 60 of 100 done, 10 req/s over the window (the warm-up and the 20 done earlier do not count): 4 s left.
    expect(last).toContain(" 60.0% 60/100 | 10.0 req/s | ETA 4.0 s | 1 failed");
    expect(last).toMatch(/^\r\[#{24}-{16}\]/);
  });

  it("prints a plain line at most every interval when not on a terminal", () => {
    let now = 0;
    const { writes, stream } = fakeStream(false);
    const display = new ProgressDisplay({ stream, plainIntervalMs: 1_000, now: () => now });
    for (let t = 0; t <= 3_000; t += 100) {
      now = t;
      display.update({ phase: "running", done: t / 100, total: 100, failed: 0 });
    }
    now = 3_100;
    display.update({ phase: "running", done: 31, total: 100, failed: 0 });
    display.finish();
    expect(writes.every((text) => text.startsWith("progress: ") && text.endsWith("\n"))).toBe(true);
    expect(writes).toHaveLength(5); // t = 0, 1000, 2000, 3000, and the final state from finish()
    expect(writes[2]).toBe("progress: 20/100 (20.0%), 10.0 req/s, ETA 8.0 s\n");
    expect(writes[4]).toBe("progress: 31/100 (31.0%), 10.0 req/s, ETA 6.9 s\n");
  });

  it("prints log lines above the bar and redraws it", () => {
    const { writes, stream } = fakeStream(true);
    const display = new ProgressDisplay({ stream, now: () => 0 });
    display.update({ phase: "running", done: 1, total: 4, failed: 0 });
    const log = cliLogStream((line) => display.print(line));
    log.write(`${JSON.stringify({ level: 30, component: "worker", msg: "claimed" })}\n`);
    log.write(`${JSON.stringify({ level: 30, component: "model-cache", msg: "downloading tiny.gguf: 50.0%" })}\n`);
    log.write(`${JSON.stringify({ level: 40, msg: "upstream slow", err: { message: "ETIMEDOUT" } })}\n`);
    const text = writes.join("");
    expect(text).not.toContain("claimed");
    expect(text).toContain("info: downloading tiny.gguf: 50.0%\n");
    expect(text).toContain("warn: upstream slow: ETIMEDOUT\n");
    expect(writes[writes.length - 1]).toMatch(/^\r\[/);
  });

  it("formats durations for people", () => {
    expect(formatDuration(950)).toBe("950 ms");
    expect(formatDuration(4_200)).toBe("4.2 s");
    expect(formatDuration(75_000)).toBe("1m15s");
    expect(formatDuration(4_000_000)).toBe("1h06m");
  });
});
