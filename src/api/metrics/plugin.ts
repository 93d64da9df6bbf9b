/**
 * Prometheus `/metrics` in the text exposition format (src/observability/). It needs an API key when keys
 * are configured (Prometheus sends one with `authorization: {credentials: ...}`); errors answer in the
 * dashboard's JSON envelope.
 */
import type { AppContext } from "../../app-context.ts";
import { toDashboardErrorReply } from "../dashboard/errors.ts";
import type { DialectSurface } from "../shared/dialect-surface.ts";

export function metricsSurface(): DialectSurface {
  return {
    name: "metrics",
    prefix: "/metrics",
    toErrorReply: toDashboardErrorReply,
    async register(scope, ctx: AppContext) {
      scope.get("/", async (_request, reply) => reply.type(ctx.observability.contentType).header("cache-control", "no-store").send(await ctx.observability.text()));
    },
  };
}
