/**
 * The short chaos run (the long one is `node --import tsx bench/chaos.ts`): one real `spool serve` process
 * on SQLite, the seeded upstream fault mix, and one SIGKILL in each phase of a Batch (upload, validating,
 * running, finalizing), each followed by a restart on the same data dir. Every acknowledged Batch of both
 * dialects must then have exactly one result per input line, in order, under its own key, with counters
 * that agree, and no request may reach the upstream more often than the retry settings allow.
 */
import { describe, expect, it } from "vitest";
import { runChaos } from "../../bench/chaos.ts";
import { CALLS_BOUND } from "../../bench/chaos-report.ts";

describe("chaos: SIGKILL in every phase of a batch, with upstream faults", () => {
  it("loses and duplicates nothing across a kill during upload, validation, running and finalization", async () => {
    const lines: string[] = [];
    const [figures] = await runChaos({
      stores: ["sqlite"],
      minutes: 1,
      seed: 20_251,
      episodes: ["kill-upload", "kill-validating", "kill-running", "kill-finalizing"],
      sizeScale: 0.25,
      drainMs: 45_000,
      log: (line) => lines.push(line),
    });
    const context = [...lines, ...(figures?.problems ?? [])].join("\n");
    expect(figures?.problems, context).toEqual([]);
    expect(figures!.lost + figures!.duplicated + figures!.outOfOrder + figures!.wrong).toBe(0);
    for (const phase of ["upload", "validating", "running"] as const) expect(figures!.tally.kills[phase].landed, `${phase}\n${context}`).toBe(1);
    // Finalization of a small Batch can finish between two status reads; three tries usually catch it.
    expect(figures!.tally.kills.finalizing.landed + figures!.tally.kills.finalizing.missed).toBeGreaterThan(0);
    expect(figures!.succeeded).toBe(figures!.items);
    expect(figures!.calls.max).toBeLessThanOrEqual(CALLS_BOUND);
    expect(Object.values(figures!.faults).every((count) => count > 0), JSON.stringify(figures!.faults)).toBe(true);
  }, 120_000);
});
