/**
 * The models page's data: each configured Model's engine and concurrency, what this process's Dispatcher
 * is doing with it (in flight, waiting, current limit), the queue in the Store (all processes), and the
 * last minute's throughput, error rate and prefix-cache hit share of this process's Workers.
 */
import type { FastifyInstance } from "fastify";
import type { AppContext } from "../../app-context.ts";

export async function registerModelRoutes(app: FastifyInstance, ctx: AppContext): Promise<void> {
  app.get("/api/models", async () => {
    const queues = await ctx.store.queueStats();
    const nowMs = ctx.clock.now();
    return {
      models: ctx.catalog.models.map((model) => {
        const load = ctx.dispatcher.load(model.name);
        const queue = queues.find((entry) => entry.model === model.name);
        const recent = ctx.observability.recentRate(model.name);
        return {
          name: model.name,
          engine: model.engine,
          concurrency: model.concurrency,
          limit: load.concurrency,
          inFlight: load.running,
          waiting: load.waiting,
          pending: queue?.pending ?? 0,
          running: queue?.running ?? 0,
          oldestPendingAgeMs: queue?.oldestPendingSinceMs == null ? null : Math.max(0, nowMs - queue.oldestPendingSinceMs),
          itemsPerSecond: recent.itemsPerSecond,
          errorRate: recent.errorRate,
          finishedLastMinute: recent.finished,
          cachedInputShare: recent.cachedInputShare,
          // With several backends: each one's limit, Batch allowance and circuit breaker, cheapest first.
          backends: model.backends === undefined ? [] : ctx.dispatcher.backends(model.name),
        };
      }),
    };
  });
}
