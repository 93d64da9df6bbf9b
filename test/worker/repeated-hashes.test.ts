/** RepeatedHashes: validation's "may two Items be duplicates?" answer, which lets startBatch skip arranging. */
import { describe, expect, it } from "vitest";
import { requestHashOf } from "../../src/core/request-keys.ts";
import { RepeatedHashes } from "../../src/worker/repeated-hashes.ts";

const hashes = (count: number): string[] => Array.from({ length: count }, (_, i) => requestHashOf({ model: "m", input: `text ${i}` }));

describe("RepeatedHashes", () => {
  it("answers no for 100,000 distinct request hashes (the table grows many times)", () => {
    const seen = new RepeatedHashes();
    for (const hash of hashes(100_000)) seen.note(hash);
    expect(seen.any).toBe(false);
  });

  it("answers yes as soon as a hash repeats, wherever the repeat is", () => {
    const all = hashes(50_000);
    for (const at of [1, 1_000, 49_999]) {
      const seen = new RepeatedHashes();
      for (const hash of all.slice(0, at)) seen.note(hash);
      seen.note(all[Math.floor(at / 2)]!);
      expect(seen.any).toBe(true);
    }
  });

  it("errs towards yes: two hashes sharing their first 48 bits count as a repeat", () => {
    const seen = new RepeatedHashes();
    seen.note("AbCdEfGh_first_hash_xx");
    seen.note("AbCdEfGh_other_hash_yy");
    expect(seen.any).toBe(true);
  });

  it("tells apart hashes that differ only in one of the first 8 characters, including - and _", () => {
    const seen = new RepeatedHashes();
    for (const first of ["AAAAAAAA", "AAAAAAA-", "AAAAAAA_", "-AAAAAAA", "_AAAAAAA", "zzzzzzzz", "99999999"]) seen.note(`${first}rest_of_the_hash_`);
    expect(seen.any).toBe(false);
  });
});
