import { describe, expect, it } from "vitest";
import { newBatchId, newFileId, randomToken, sortableToken } from "../../src/core/ids.ts";
import { newMessageBatchId } from "../../src/dialects/anthropic/wire.ts";

describe("ids", () => {
  it("makes sortable tokens that order by their time and stay 24 lower-case alphanumerics", () => {
    const times = [0, 1, 35, 36, 1_700_000_000_000, 1_796_586_003_844, 1_796_586_003_845, 4_000_000_000_000];
    const tokens = times.map((ms) => sortableToken(ms));
    for (const token of tokens) expect(token).toMatch(/^[a-z0-9]{24}$/);
    expect([...tokens].reverse().sort()).toEqual(tokens);
  });

  it("keeps the random part random: tokens of the same millisecond differ", () => {
    const tokens = new Set(Array.from({ length: 1_000 }, () => sortableToken(1_796_586_003_844)));
    expect(tokens.size).toBe(1_000);
  });

  it("gives Batches and Files of every dialect ids that sort in creation order", async () => {
    for (const make of [newBatchId, newFileId, newMessageBatchId]) {
      const ids: string[] = [];
      for (let i = 0; i < 3; i += 1) {
        ids.push(make());
        await new Promise((resolve) => setTimeout(resolve, 3));
      }
      expect([...ids].reverse().sort()).toEqual(ids);
    }
    expect(randomToken()).toMatch(/^[a-z0-9]{24}$/);
  });
});
