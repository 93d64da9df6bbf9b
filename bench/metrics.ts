/**
 * What counting metrics costs the Worker's hot path: one claim report, one Engine call report and one result
 * report per Item, as the Worker and Dispatcher make them, through the Prometheus implementation
 * (src/observability/prom-metrics.ts) and through prom-client's own labelled counters and histograms (the
 * baseline a straightforward implementation would have). The figure that matters is the share of a core
 * at the dispatch ceiling measured on this machine (~25k requests/s, ../shared/ENGINE-NOTES.md).
 */
import { Counter, Histogram, Registry } from "prom-client";
import { PromMetrics } from "../src/observability/prom-metrics.ts";
import { row } from "./lib.ts";

const ITEMS = 500_000;
const CLAIM = 128;
const CEILING_PER_SECOND = 25_000;

async function perItemUs(report: (items: { batchId: string; model: string; attempt: number }[]) => void): Promise<number> {
  const items = Array.from({ length: CLAIM }, (_, index) => ({ batchId: `batch_${index % 4}`, model: "gpt-bench", attempt: 1 }));
  for (let warm = 0; warm < 20_000; warm += CLAIM) report(items);
  // A Worker's loop yields between claims: the once-per-Batch start-time lookups answer during the warm-up.
  await new Promise((resolve) => setTimeout(resolve, 20));
  const started = process.hrtime.bigint();
  for (let done = 0; done < ITEMS; done += CLAIM) report(items);
  return Number(process.hrtime.bigint() - started) / 1000 / ITEMS;
}

export async function benchMetrics(): Promise<void> {
  console.log(`\nMetrics on the hot path: claim + Engine call + result reported per Item (${ITEMS.toLocaleString()} Items)`);
  const result = { statusCode: 200, body: "{}", errorCode: null, errorMessage: null, requestId: null, usage: { inputTokens: 10, outputTokens: 5 }, finishedAtMs: Date.now() };
  const metrics = new PromMetrics(new Registry(), async () => Date.now() - 1_000);
  const spool = await perItemUs((items) => {
    const nowMs = Date.now();
    metrics.itemsClaimed(items, nowMs);
    for (const item of items) {
      metrics.engineCallEnded(item.model, 3, null);
      metrics.itemFinished(item, "succeeded", result);
    }
  });
  const registers = [new Registry()];
  const claimed = new Counter({ name: "c", help: "c", labelNames: ["model"], registers });
  const finished = new Counter({ name: "f", help: "f", labelNames: ["model", "status"], registers });
  const tokens = new Counter({ name: "t", help: "t", labelNames: ["model", "type"], registers });
  const calls = new Histogram({ name: "h", help: "h", labelNames: ["model", "outcome"], registers });
  const waits = new Histogram({ name: "w", help: "w", labelNames: ["model"], registers });
  const plain = await perItemUs((items) => {
    for (const item of items) {
      claimed.inc({ model: item.model });
      waits.observe({ model: item.model }, 0.5);
      calls.observe({ model: item.model, outcome: "ok" }, 0.003);
      finished.inc({ model: item.model, status: "succeeded" });
      tokens.inc({ model: item.model, type: "input" }, 10);
      tokens.inc({ model: item.model, type: "output" }, 5);
      waits.observe({ model: item.model }, 1);
    }
  });
  const share = (us: number): string => `${((us * CEILING_PER_SECOND) / 10_000).toFixed(1)}% of a core at ${CEILING_PER_SECOND.toLocaleString()} Items/s`;
  row("prom-client labelled counters (baseline)", `${plain.toFixed(2)} µs/Item`, share(plain));
  row("spool (series resolved once per Model)", `${spool.toFixed(2)} µs/Item`, `${share(spool)}; ${(plain / spool).toFixed(1)}x cheaper`);
}
