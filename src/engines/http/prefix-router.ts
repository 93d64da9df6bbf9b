/**
 * Chooses one of several upstream URLs serving the same Model (`baseUrls`), so that requests sharing a
 * prompt prefix land on the same replica and find its prefix cache (vLLM/SGLang automatic prefix caching)
 * warm.
 *
 * Policy "prefix": rendezvous (highest-random-weight) hashing of a prefix key over the URLs. Each URL gets a
 * score per key; the URL with the best score wins, and the ranking is the failover order. Unlike a
 * modulo hash, adding or removing a URL moves only the keys that URL wins or loses, so the caches of
 * the other replicas stay warm.
 *
 * Bounded loads: a URL already running more than `loadFactor` times its fair share of the requests in
 * flight is passed over for the next one in the key's ranking (consistent hashing with bounded loads,
 * Mirrokni et al. 2018). Without it a batch whose Items all share one long system prompt would run on one
 * replica while the others idle; with it the overflow always spills to the same second choice, whose
 * cache then warms for that prefix too. Each spilled request can evict a prefix the second choice needs
 * for its own keys, so the factor is looser than the paper's 1.25: on the prefix benchmark (32 prefixes,
 * two replicas caching 20 each) 1.25 held the cache hit rate at about 82%, 1.5 at about 94%.
 *
 * Failures: a URL whose exchange failed at the network level or with a 5xx is skipped for a cool-down; its
 * keys move to the next URL of their ranking and come back when the cool-down is over. When every URL is
 * cooling down the ranking is used as if none were: spool never refuses a request for lack of a healthy
 * URL (the Dispatcher's retries and backoff already limit how hard a dead upstream is hit).
 *
 * Policy "round-robin": URLs in turn, for upstreams without a prefix cache (the benchmark baseline).
 */

export type RoutingPolicy = "prefix" | "round-robin";

export interface PrefixRouterOptions {
  /** One entry per upstream URL; the strings seed the hash, so a URL keeps its keys across restarts. */
  urls: readonly string[];
  policy?: RoutingPolicy;
  /** How long a failed URL is skipped. */
  cooldownMs?: number;
  /** A URL may run this many times its fair share of the requests in flight before overflow moves on. */
  loadFactor?: number;
  nowMs?: () => number;
}

/** One routed request: the chosen URL's index, and `done` to call once with how the exchange ended. */
export interface Route {
  index: number;
  done(outcome: "ok" | "failed" | "other"): void;
}

export const DEFAULT_COOLDOWN_MS = 30_000;
export const DEFAULT_LOAD_FACTOR = 1.5;

export class PrefixRouter {
  private readonly seeds: number[];
  private readonly inFlight: number[];
  private readonly coolUntilMs: number[];
  private readonly policy: RoutingPolicy;
  private readonly cooldownMs: number;
  private readonly loadFactor: number;
  private readonly nowMs: () => number;
  private totalInFlight = 0;
  private turn = 0;

  constructor(options: PrefixRouterOptions) {
    if (options.urls.length === 0) throw new Error("PrefixRouter needs at least one URL.");
    this.seeds = options.urls.map((url) => hashString(url, 0x9747b28c));
    this.inFlight = options.urls.map(() => 0);
    this.coolUntilMs = options.urls.map(() => 0);
    this.policy = options.policy ?? "prefix";
    this.cooldownMs = options.cooldownMs ?? DEFAULT_COOLDOWN_MS;
    this.loadFactor = options.loadFactor ?? DEFAULT_LOAD_FACTOR;
    this.nowMs = options.nowMs ?? Date.now;
  }

  /** Picks a URL for a request whose prefix key is `key` (ignored by round-robin). */
  route(key: string): Route {
    const index = this.seeds.length === 1 ? 0 : this.choose(key);
    this.inFlight[index]!++;
    this.totalInFlight++;
    let settled = false;
    return {
      index,
      done: (outcome) => {
        if (settled) return;
        settled = true;
        this.inFlight[index]!--;
        this.totalInFlight--;
        if (outcome === "failed") this.coolUntilMs[index] = this.nowMs() + this.cooldownMs;
        else if (outcome === "ok") this.coolUntilMs[index] = 0;
      },
    };
  }

  /** The URLs in the order `key` prefers them (best first). */
  ranking(key: string): number[] {
    const keyHash = hashString(key, 0);
    const scores = this.seeds.map((seed) => mix32(keyHash ^ seed));
    return scores.map((_, index) => index).sort((a, b) => scores[b]! - scores[a]! || a - b);
  }

  private choose(key: string): number {
    const now = this.nowMs();
    const order = this.policy === "prefix" ? this.ranking(key) : this.roundRobinOrder();
    const healthy = order.filter((index) => this.coolUntilMs[index]! <= now);
    const candidates = healthy.length > 0 ? healthy : order;
    // Fair share counts the request being placed, so an idle pool always admits the first choice.
    const cap = Math.ceil((this.loadFactor * (this.totalInFlight + 1)) / candidates.length);
    return candidates.find((index) => this.inFlight[index]! < cap) ?? candidates[0]!;
  }

  private roundRobinOrder(): number[] {
    const start = this.turn++ % this.seeds.length;
    return this.seeds.map((_, offset) => (start + offset) % this.seeds.length);
  }
}

/** FNV-1a over UTF-16 code units, then mixed: cheap, and enough spread for a handful of URLs. */
function hashString(text: string, seed: number): number {
  let hash = (0x811c9dc5 ^ seed) >>> 0;
  for (let index = 0; index < text.length; index++) {
    hash ^= text.charCodeAt(index);
    hash = Math.imul(hash, 0x01000193);
  }
  return mix32(hash);
}

/** MurmurHash3's finalizer: every input bit affects every output bit. */
function mix32(value: number): number {
  let hash = value >>> 0;
  hash ^= hash >>> 16;
  hash = Math.imul(hash, 0x85ebca6b);
  hash ^= hash >>> 13;
  hash = Math.imul(hash, 0xc2b2ae35);
  hash ^= hash >>> 16;
  return hash >>> 0;
}
