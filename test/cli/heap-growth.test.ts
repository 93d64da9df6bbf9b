import { spawnSync } from "node:child_process";
import { describe, expect, it } from "vitest";
import { HEAP_GROWING_PERCENT, heapGrowthFlag } from "../../src/cli/heap-growth.ts";

describe("the heap growth limit of spool processes", () => {
  it("asks V8 for a fixed growth of the old generation when node was started without one", () => {
    expect(heapGrowthFlag(["--import", "tsx"])).toBe(`--heap-growing-percent=${HEAP_GROWING_PERCENT}`);
  });

  it("keeps an operator's own --heap-growing-percent, in either spelling", () => {
    expect(heapGrowthFlag(["--heap-growing-percent=0"])).toBeNull();
    expect(heapGrowthFlag(["--heap_growing_percent=80"])).toBeNull();
  });

  // v8.setFlagsFromString ignores a flag this V8 does not know; node itself refuses one at start.
  it("names a flag this node's V8 knows", () => {
    const flag = heapGrowthFlag([]) ?? "";
    const known = spawnSync(process.execPath, [flag, "-e", "0"], { encoding: "utf8" });
    expect(known.stderr).toBe("");
    expect(known.status).toBe(0);
    const unknown = spawnSync(process.execPath, ["--heap-growing-percentage=50", "-e", "0"], { encoding: "utf8" });
    expect(unknown.status).not.toBe(0);
  });
});
