/**
 * A test upstream that models a server with automatic prefix caching (vLLM, SGLang): it remembers the
 * system prompts of its last `cachedPrefixes` requests (LRU), and a request costs time for every prompt
 * token it has to evaluate: the whole prompt on a miss, only what follows the system prompt on a hit.
 * Requests are evaluated one at a time (prefill is compute-bound), so a replica that gets more than its
 * share of the work falls behind. Tokens are estimated as characters / 4.
 */
import http from "node:http";
import type { AddressInfo } from "node:net";

export interface PrefixCacheUpstreamOptions {
  cachedPrefixes: number;
  microsPerUncachedToken: number;
  /** Per-request cost besides the prompt (decoding a short answer). */
  fixedMs: number;
}

export interface PrefixCacheUpstream {
  url: string;
  readonly requests: number;
  readonly hits: number;
  close(): Promise<void>;
}

export async function startPrefixCacheUpstream(options: PrefixCacheUpstreamOptions): Promise<PrefixCacheUpstream> {
  const cache = new Map<string, true>();
  const counts = { requests: 0, hits: 0 };
  let busyUntilMs = 0;

  const server = http.createServer((req, res) => {
    let text = "";
    req.setEncoding("utf8");
    req.on("data", (chunk: string) => (text += chunk));
    req.on("end", () => {
      const body = JSON.parse(text) as { model: string; messages: Array<{ role: string; content: string }> };
      const system = body.messages[0]?.role === "system" ? body.messages[0].content : "";
      const rest = body.messages.slice(system === "" ? 0 : 1).reduce((sum, message) => sum + message.content.length, 0);
      const hit = cache.delete(system);
      cache.set(system, true);
      if (cache.size > options.cachedPrefixes) cache.delete(cache.keys().next().value!);
      counts.requests++;
      if (hit) counts.hits++;
      const promptTokens = Math.ceil((system.length + rest) / 4);
      const cachedTokens = hit ? Math.floor(system.length / 4) : 0;
      const costMs = options.fixedMs + ((promptTokens - cachedTokens) * options.microsPerUncachedToken) / 1000;
      const now = performance.now();
      busyUntilMs = Math.max(now, busyUntilMs) + costMs;
      const reply = JSON.stringify({
        id: `chatcmpl-${counts.requests}`,
        object: "chat.completion",
        created: Math.floor(Date.now() / 1000),
        model: body.model,
        choices: [{ index: 0, message: { role: "assistant", content: "ok" }, logprobs: null, finish_reason: "stop" }],
        usage: { prompt_tokens: promptTokens, completion_tokens: 1, total_tokens: promptTokens + 1, prompt_tokens_details: { cached_tokens: cachedTokens } },
      });
      setTimeout(() => {
        res.writeHead(200, { "content-type": "application/json", "content-length": Buffer.byteLength(reply) });
        res.end(reply);
      }, busyUntilMs - now);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/v1`,
    get requests() {
      return counts.requests;
    },
    get hits() {
      return counts.hits;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
