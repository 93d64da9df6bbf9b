import { describe, expect, it } from "vitest";
import { estimateTextTokens, shareTokens } from "../../../src/engines/packing/token-shares.ts";

describe("shareTokens", () => {
  it("splits a call's tokens by estimate and always adds up to the call's count", () => {
    expect(shareTokens(100, [1, 1, 2])).toEqual([25, 25, 50]);
    expect(shareTokens(10, [1, 1, 1])).toEqual([4, 3, 3]); // the leftover token goes to the earliest tie
    expect(shareTokens(7, [10, 0, 5])).toEqual([5, 0, 2]);
    for (const [total, weights] of [[1234, [3, 17, 5, 9, 1]], [1, [5, 5, 5]], [0, [2, 3]]] as const) {
      expect(shareTokens(total, weights).reduce((sum, share) => sum + share, 0)).toBe(total);
    }
  });

  it("shares equally when there is no estimate to go by, and handles empty packs", () => {
    expect(shareTokens(6, [0, 0, 0])).toEqual([2, 2, 2]);
    expect(shareTokens(5, [])).toEqual([]);
  });

  it("estimates a text at four characters a token, at least one", () => {
    expect(estimateTextTokens("")).toBe(1);
    expect(estimateTextTokens("abcd")).toBe(1);
    expect(estimateTextTokens("abcde")).toBe(2);
  });
});
