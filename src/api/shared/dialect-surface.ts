/**
 * A DialectSurface: one client dialect's routes mounted under a URL prefix, plus the mapper that turns
 * errors into that dialect's envelope. The dashboard and `/metrics` are mounted the same way (they are
 * "dialects" spoken to browsers and scrapers). The composition root hands every surface to buildHttpServer the
 * same way; the server routes each error to the mapper of the longest prefix matching the request path.
 */
import type { FastifyInstance } from "fastify";
import type { AppContext } from "../../app-context.ts";
import type { ErrorMapper } from "./error-reply.ts";

export interface DialectSurface {
  /** For logs: "openai", "openai-compat", "gemini". */
  name: string;
  /** Mount point, without a trailing slash: "/v1", "/v1beta/openai", "/v1beta". */
  prefix: string;
  /** Adds the routes to `scope`, an encapsulated Fastify context already carrying `prefix`. */
  register(scope: FastifyInstance, ctx: AppContext): Promise<void>;
  /** Errors of requests under `prefix` (and not under a longer registered prefix) go through this. */
  toErrorReply: ErrorMapper;
  /** Paths served without an API key even when keys are configured (the dashboard's page and assets). */
  isPublic?(path: string): boolean;
}

/** Large enough for inline batches (Gemini inlinedRequests, sync embeddings of many inputs). */
export const JSON_BODY_LIMIT = 32 * 1024 * 1024;
