/**
 * PrefixRouter: which upstream URL a prefix key goes to, how keys move when a URL fails or is removed, and
 * how overflow spills when one URL runs more than its share.
 */
import { describe, expect, it } from "vitest";
import { PrefixRouter } from "../../../src/engines/http/prefix-router.ts";

const URLS = ["http://10.0.0.1:8000/v1", "http://10.0.0.2:8000/v1", "http://10.0.0.3:8000/v1"];
const keys = Array.from({ length: 3000 }, (_, index) => `model\u0000system prompt number ${index}`);

function routeAndFinish(router: PrefixRouter, key: string): number {
  const route = router.route(key);
  route.done("ok");
  return route.index;
}

describe("PrefixRouter", () => {
  it("sends every request with one key to the same URL and spreads keys evenly over the URLs", () => {
    const router = new PrefixRouter({ urls: URLS });
    const counts = [0, 0, 0];
    for (const key of keys) {
      const index = routeAndFinish(router, key);
      counts[index]!++;
      expect(routeAndFinish(router, key)).toBe(index);
    }
    for (const count of counts) expect(count / keys.length).toBeGreaterThan(0.28);
  });

  it("moves only the keys of a removed URL when the list shrinks", () => {
    const three = new PrefixRouter({ urls: URLS });
    const two = new PrefixRouter({ urls: [URLS[0]!, URLS[2]!] });
    let moved = 0;
    for (const key of keys) {
      const before = URLS[three.ranking(key)[0]!]!;
      const after = [URLS[0]!, URLS[2]!][two.ranking(key)[0]!]!;
      if (before !== URLS[1]) expect(after).toBe(before);
      else moved++;
    }
    expect(moved).toBeGreaterThan(0);
  });

  it("skips a failed URL for the cool-down, sending its keys to their second choice, then takes it back", () => {
    let now = 1_000_000;
    const router = new PrefixRouter({ urls: URLS, cooldownMs: 30_000, nowMs: () => now });
    const key = keys[7]!;
    const [first, second] = router.ranking(key);
    const failing = router.route(key);
    expect(failing.index).toBe(first);
    failing.done("failed");
    expect(routeAndFinish(router, key)).toBe(second);
    now += 29_999;
    expect(routeAndFinish(router, key)).toBe(second);
    now += 1;
    expect(routeAndFinish(router, key)).toBe(first);
  });

  it("does not cool a URL down for a request-level failure (a 4xx, a timeout)", () => {
    const router = new PrefixRouter({ urls: URLS });
    const key = keys[3]!;
    const route = router.route(key);
    route.done("other");
    expect(routeAndFinish(router, key)).toBe(route.index);
  });

  it("keeps routing by preference when every URL is cooling down", () => {
    const router = new PrefixRouter({ urls: URLS, nowMs: () => 5 });
    for (const index of [0, 1, 2]) {
      const key = keys.find((candidate) => router.ranking(candidate)[0] === index)!;
      router.route(key).done("failed");
    }
    const key = keys[11]!;
    expect(router.route(key).index).toBe(router.ranking(key)[0]);
  });

  it("spills requests beyond a URL's fair share of the load to the key's second choice", () => {
    const router = new PrefixRouter({ urls: URLS.slice(0, 2), loadFactor: 1.25 });
    const key = keys[0]!;
    const [first, second] = router.ranking(key);
    const open = Array.from({ length: 20 }, () => router.route(key));
    const onFirst = open.filter((route) => route.index === first).length;
    // Fair share of 20 over 2 URLs is 10; 1.25 times that is the most the first choice may hold.
    expect(onFirst).toBeGreaterThanOrEqual(12);
    expect(onFirst).toBeLessThanOrEqual(13);
    expect(open.filter((route) => route.index === second)).toHaveLength(20 - onFirst);
    for (const route of open) route.done("ok");
    expect(router.route(key).index).toBe(first);
  });

  it("takes URLs in turn with the round-robin policy, skipping a cooling one", () => {
    const router = new PrefixRouter({ urls: URLS, policy: "round-robin", nowMs: () => 0 });
    expect([0, 1, 2, 3].map(() => routeAndFinish(router, "same key"))).toEqual([0, 1, 2, 0]);
    router.route("x").done("failed"); // index 1
    expect([0, 1, 2].map(() => routeAndFinish(router, "same key"))).toEqual([2, 0, 2]);
  });
});
