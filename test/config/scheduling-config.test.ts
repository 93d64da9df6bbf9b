/**
 * Scheduling settings (issue 12): a Model's batch hours and the default completion window of Gemini batches;
 * and how long ended batches keep their results (`retention`).
 */
import { writeFileSync } from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { ConfigError, loadConfig } from "../../src/config/load-config.ts";
import { testWorkDir } from "../helpers/test-dirs.ts";

const dir = testWorkDir("config", "scheduling-config");

function load(name: string, text: string): ReturnType<typeof loadConfig> {
  const file = path.join(dir, name);
  writeFileSync(file, text);
  return loadConfig({ config: file }, {});
}

function errorFor(name: string, text: string): string {
  try {
    load(name, text);
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return (error as ConfigError).message;
  }
  throw new Error(`${name} was accepted`);
}

const MODEL = "models:\n  - name: a\n    engine: openai\n    baseUrl: http://x/v1\n";

describe("scheduling configuration", () => {
  it("reads a Model's batch hours and the Gemini default window in milliseconds", () => {
    const config = load("ok.yaml", `${MODEL}    schedule:\n      batchHours: "16:30-00:30 UTC"\nscheduling:\n  defaultWindow:\n    gemini: 7d\n`);
    expect(config.models[0]?.schedule).toEqual({ batchHours: "16:30-00:30 UTC" });
    expect(config.scheduling.defaultWindowMs).toEqual({ gemini: 7 * 24 * 3600 * 1000 });
    expect(load("none.yaml", MODEL).scheduling.defaultWindowMs).toEqual({});
  });

  it("reads a Model's syncFirst and refuses a Batch share of 0 or above 1", () => {
    expect(load("sync-first.yaml", `${MODEL}    syncFirst: { batchShare: 0.5, quietMs: 250 }\n`).models[0]?.syncFirst).toEqual({ batchShare: 0.5, quietMs: 250 });
    expect(errorFor("share-0.yaml", `${MODEL}    syncFirst: { batchShare: 0 }\n`)).toContain("models[0].syncFirst.batchShare");
    expect(errorFor("share-2.yaml", `${MODEL}    syncFirst: { batchShare: 2 }\n`)).toContain("models[0].syncFirst.batchShare");
  });

  it("names the line and says what is wrong with batch hours", () => {
    expect(errorFor("zone.yaml", `${MODEL}    schedule:\n      batchHours: "16:30-00:30 CET"\n`)).toBe(
      'zone.yaml:6: models[0].schedule.batchHours: must end with a time zone: "UTC" or a fixed offset like "UTC+02:00" (got "16:30-00:30 CET"); e.g. "16:30-00:30 UTC"',
    );
    expect(errorFor("range.yaml", `${MODEL}    schedule:\n      batchHours: "9-17 UTC"\n`)).toContain('models[0].schedule.batchHours: has "9-17" where a range like "16:30-00:30" belongs');
    expect(errorFor("key.yaml", `${MODEL}    schedule:\n      hours: "9:00-17:00 UTC"\n`)).toContain("unknown key 'models[0].schedule.hours'");
  });

  it("names the key of a default window that is not a duration", () => {
    expect(errorFor("window.yaml", "scheduling:\n  defaultWindow:\n    gemini: two days\n")).toBe('window.yaml:3: scheduling.defaultWindow.gemini: must be a duration like "24h", "90m", "7d" or "1h30m"');
    expect(errorFor("long.yaml", "scheduling:\n  defaultWindow:\n    gemini: 60d\n")).toContain("scheduling.defaultWindow.gemini: may be at most 30 days (720h)");
  });

  it("keeps ended batches' results 29 days by default, any duration given, or forever, and names a bad value", () => {
    expect(load("retention-default.yaml", MODEL).retention).toEqual({ batchResultsMs: 29 * 24 * 3600 * 1000 });
    expect(load("retention-90d.yaml", `${MODEL}retention:\n  batchResults: 90d\n`).retention).toEqual({ batchResultsMs: 90 * 24 * 3600 * 1000 });
    expect(load("retention-never.yaml", `${MODEL}retention:\n  batchResults: never\n`).retention).toEqual({ batchResultsMs: null });
    const problem = errorFor("retention-bad.yaml", `${MODEL}retention:\n  batchResults: soon\n`);
    expect(problem).toContain("retention.batchResults");
    expect(problem).toContain("never");
    expect(errorFor("retention-key.yaml", `${MODEL}retention:\n  results: 3d\n`)).toContain("retention");
  });
});
