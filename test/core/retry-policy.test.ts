import { describe, expect, it } from "vitest";
import { isRetryableStatus, retryDelayMs } from "../../src/core/retry-policy.ts";

const top = () => 0.999_999;
const bottom = () => 0;

describe("retryDelayMs without a server hint", () => {
  it("doubles the backoff window each retry until the cap", () => {
    const windows = [1, 2, 3, 4, 5, 6, 7, 8].map((attempt) => retryDelayMs({ attempt, baseMs: 100, capMs: 5_000, random: top }));
    expect(windows).toEqual([100, 200, 400, 800, 1_600, 3_200, 5_000, 5_000].map((ms) => ms - 1));
  });

  it("stays at the cap for absurd attempt numbers instead of overflowing", () => {
    expect(retryDelayMs({ attempt: 5_000, baseMs: 500, capMs: 30_000, random: top })).toBe(29_999);
  });

  it("uses full jitter: anywhere from 0 to the window", () => {
    expect(retryDelayMs({ attempt: 3, baseMs: 500, random: bottom })).toBe(0);
    expect(retryDelayMs({ attempt: 3, baseMs: 500, random: () => 0.5 })).toBe(1_000);
    for (let i = 0; i < 200; i += 1) {
      const delay = retryDelayMs({ attempt: 4, baseMs: 500 }) ?? -1;
      expect(delay).toBeGreaterThanOrEqual(0);
      expect(delay).toBeLessThan(4_000);
    }
  });
});

describe("retryDelayMs with a server Retry-After", () => {
  it("waits at least what the server asked, plus at most 10% jitter", () => {
    expect(retryDelayMs({ attempt: 1, retryAfterMs: 2_000, random: bottom })).toBe(2_000);
    expect(retryDelayMs({ attempt: 1, retryAfterMs: 2_000, random: top })).toBe(2_200);
  });

  it("ignores the exponential window when the server gave a hint", () => {
    expect(retryDelayMs({ attempt: 8, retryAfterMs: 50, random: bottom })).toBe(50);
  });

  it("caps the jitter at one second for long waits and never exceeds the cap", () => {
    expect(retryDelayMs({ attempt: 1, retryAfterMs: 60_000, random: top })).toBe(61_000);
    expect(retryDelayMs({ attempt: 1, retryAfterMs: 119_900, maxRetryAfterMs: 120_000, random: top })).toBe(120_000);
  });

  it("retries at once for Retry-After: 0", () => {
    expect(retryDelayMs({ attempt: 1, retryAfterMs: 0, random: top })).toBe(0);
  });

  it("gives up (null) when the server asks for longer than maxRetryAfterMs", () => {
    expect(retryDelayMs({ attempt: 1, retryAfterMs: 120_001, maxRetryAfterMs: 120_000 })).toBeNull();
    expect(retryDelayMs({ attempt: 1, retryAfterMs: 3_600_000 })).toBeNull();
  });
});

describe("isRetryableStatus", () => {
  it("retries 408, 409, 429 and 5xx and nothing else", () => {
    for (const status of [408, 409, 429, 500, 502, 503, 504, 599]) expect(isRetryableStatus(status)).toBe(true);
    for (const status of [200, 400, 401, 403, 404, 413, 422, 600]) expect(isRetryableStatus(status)).toBe(false);
  });
});
