/**
 * The Anthropic dialect as a DialectSurface of the shared HTTP server, mounted at `/v1/messages` (a longer
 * prefix than the OpenAI surface's `/v1`, so errors under it answer in Anthropic's envelope): synchronous
 * messages and count_tokens, and Message Batches.
 *
 * The SDK sends `anthropic-version` (and sometimes `anthropic-beta`) on every call; any value is accepted,
 * since spool serves one version of each shape. Every reply carries `request-id`, the header the SDK reads
 * into `error.requestID`.
 */
import type { FastifyInstance } from "fastify";
import type { AppContext } from "../../app-context.ts";
import type { DialectSurface } from "../shared/dialect-surface.ts";
import { registerBatchRoutes } from "./batches-routes.ts";
import { toAnthropicErrorReply } from "./errors.ts";
import { registerMessagesRoutes } from "./messages-routes.ts";

async function registerAnthropicRoutes(scope: FastifyInstance, ctx: AppContext): Promise<void> {
  scope.addHook("onSend", async (request, reply) => {
    reply.header("request-id", request.id);
  });
  registerMessagesRoutes(scope, ctx);
  registerBatchRoutes(scope, ctx);
}

/** The Anthropic surface, for buildHttpServer. */
export function anthropicSurfaces(): DialectSurface[] {
  return [{ name: "anthropic", prefix: "/v1/messages", register: registerAnthropicRoutes, toErrorReply: toAnthropicErrorReply }];
}
