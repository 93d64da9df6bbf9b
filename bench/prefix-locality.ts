/**
 * Prefix locality over several upstream URLs: an interleaved-prefix chat batch through the openai Engine
 * (`baseUrls` of two replicas of prefix-cache-upstream.ts), routed by prefix hashing vs round-robin. Items
 * are issued in input order at the Model's concurrency, as the Dispatcher would. Fresh replicas (empty
 * caches) for every run; alternating rounds, best of each.
 */
import type { OpenAIModelConfig } from "../src/config/config.ts";
import { OpenAIEngine } from "../src/engines/openai/openai-engine.ts";
import { ratio, row, timed } from "./lib.ts";
import { startPrefixCacheUpstream } from "./prefix-cache-upstream.ts";
import { promptText, shuffledPrefixes } from "./prefix-workload.ts";

const ITEMS = 600;
/** Each replica can cache a fair share of the prefixes with some room, as a real server's KV memory would. */
const PREFIXES = 32;
const CONCURRENCY = 16;
const ROUNDS = 2;
const UPSTREAM = { cachedPrefixes: 20, microsPerUncachedToken: 100, fixedMs: 2 };

interface Result {
  itemsPerSecond: number;
  hitRate: number;
  perReplica: number[];
}

async function runBatch(policy: "prefix" | "round-robin", bodies: Array<Record<string, unknown>>): Promise<Result> {
  const replicas = await Promise.all([startPrefixCacheUpstream(UPSTREAM), startPrefixCacheUpstream(UPSTREAM)]);
  const engine = new OpenAIEngine();
  const model: OpenAIModelConfig = {
    name: "bench-replicas",
    engine: "openai",
    baseUrls: replicas.map((replica) => replica.url),
    baseUrlRouting: policy,
    concurrency: CONCURRENCY,
    timeoutMs: 600_000,
    maxRetries: 0,
  };
  try {
    let next = 0;
    const { ms } = await timed(() =>
      Promise.all(
        Array.from({ length: CONCURRENCY }, async () => {
          while (next < bodies.length) {
            const body = bodies[next++]!;
            await engine.execute({ kind: "chat", dialect: "openai", body, model, signal: new AbortController().signal });
          }
        }),
      ),
    );
    const requests = replicas.reduce((sum, replica) => sum + replica.requests, 0);
    const hits = replicas.reduce((sum, replica) => sum + replica.hits, 0);
    return { itemsPerSecond: bodies.length / (ms / 1000), hitRate: hits / requests, perReplica: replicas.map((replica) => replica.requests) };
  } finally {
    await engine.close();
    await Promise.all(replicas.map((replica) => replica.close()));
  }
}

const best = (results: Result[]): Result => results.reduce((a, b) => (b.itemsPerSecond > a.itemsPerSecond ? b : a));

export async function benchPrefixLocality(): Promise<void> {
  const systems = Array.from({ length: PREFIXES }, (_, prefix) => `Policy ${prefix}: ${promptText(prefix, 190)}.`);
  const bodies = shuffledPrefixes(ITEMS, PREFIXES).map((prefix, index) => ({
    model: "bench-replicas",
    messages: [
      { role: "system", content: systems[prefix]! },
      { role: "user", content: `Question ${index}: ${promptText(1000 + index, 8, "question")}?` },
    ],
    max_tokens: 16,
  }));
  console.log(
    `  -- ${ITEMS} chat Items, ${PREFIXES} system prompts (~${Math.round(systems[0]!.length / 4)} tokens) shuffled, concurrency ${CONCURRENCY}; ` +
      `2 replicas, each caching its last ${UPSTREAM.cachedPrefixes} prefixes, ${UPSTREAM.microsPerUncachedToken} us per uncached token, one request at a time; best of ${ROUNDS}`,
  );
  const hashed: Result[] = [];
  const roundRobin: Result[] = [];
  for (let round = 0; round < ROUNDS; round++) {
    roundRobin.push(await runBatch("round-robin", bodies));
    hashed.push(await runBatch("prefix", bodies));
  }
  const base = best(roundRobin);
  const result = best(hashed);
  // Each replica must miss at least once per prefix it sees; hashing shows each prefix to one replica.
  const ceiling = 1 - PREFIXES / ITEMS;
  const describe = (run: Result): string =>
    `cache hit rate ${(run.hitRate * 100).toFixed(0)}% (ceiling ${(ceiling * 100).toFixed(0)}%), requests per replica ${run.perReplica.join(" / ")}`;
  row("round-robin over 2 URLs", `${Math.round(base.itemsPerSecond).toLocaleString()} Items/s`, describe(base));
  row("prefix hashing over 2 URLs", `${Math.round(result.itemsPerSecond).toLocaleString()} Items/s`, describe(result));
  row("  prefix hashing / round-robin", ratio(result.itemsPerSecond, base.itemsPerSecond, { min: 2 }));
}
