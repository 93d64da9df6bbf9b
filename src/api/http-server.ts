/**
 * The HTTP server shared by every client dialect. Each dialect is a DialectSurface: routes mounted under a
 * URL prefix plus the mapper that turns errors into that dialect's envelope. The server picks the mapper
 * by the longest prefix matching the request path, so an error (thrown in a route, a hook, a body parser,
 * or a 404) always reaches the client in the shape its SDK parses: `/v1/...` and `/v1beta/openai/...` answer
 * like OpenAI, `/v1beta/...` like Gemini once that surface is registered.
 *
 * The composition root (src/app.ts) passes every dialect's surfaces in `options.surfaces`; this file knows
 * no dialect.
 */
import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance, type FastifyReply, type FastifyRequest } from "fastify";
import type { AppContext } from "../app-context.ts";
import { AppError } from "../core/errors.ts";
import { randomToken } from "../core/ids.ts";
import { makeApiKeyCheck, presentedApiKey } from "./shared/api-key.ts";
import type { ErrorMapper } from "./shared/error-reply.ts";
import { JSON_BODY_LIMIT, type DialectSurface } from "./shared/dialect-surface.ts";
import { pathOf } from "./shared/url-path.ts";

export interface HttpServerOptions {
  /**
   * Every dialect's surfaces, as the composition root lists them. The first one's error mapper also answers
   * for paths under no surface (`/`, `/health`, unknown prefixes).
   */
  surfaces: readonly DialectSurface[];
}

/** Paths that answer without an API key. */
const PUBLIC_PATHS = new Set(["/health"]);

export function buildHttpServer(ctx: AppContext, options: HttpServerOptions): FastifyInstance {
  const app: FastifyInstance = Fastify({
    // A pino Logger is a FastifyBaseLogger; typing it as such keeps FastifyInstance's default generics.
    loggerInstance: ctx.logger as FastifyBaseLogger,
    logController: new QuietLogController(),
    bodyLimit: JSON_BODY_LIMIT,
    genReqId: () => `req_${randomToken(20)}`,
    return503OnClosing: true,
  });
  // Longest prefix first, so `/v1beta/openai` wins over `/v1beta` when mapping errors.
  const surfaces = options.surfaces.map((surface) => ({ ...surface, prefix: surface.prefix.replace(/\/+$/, "") })).sort((a, b) => b.prefix.length - a.prefix.length);
  const fallbackErrorReply = options.surfaces[0]?.toErrorReply;
  if (!fallbackErrorReply) throw new Error("buildHttpServer needs at least one dialect surface.");
  const errorMapperFor = (url: string): ErrorMapper => {
    const path = pathOf(url);
    for (const surface of surfaces) {
      if (path === surface.prefix || path.startsWith(`${surface.prefix}/`)) return surface.toErrorReply;
    }
    return fallbackErrorReply;
  };
  const sendError = (error: unknown, request: FastifyRequest, reply: FastifyReply): void => {
    const mapped = errorMapperFor(request.url)(error, request.id);
    if (mapped.unexpected) {
      request.log.error({ err: error, method: request.method, url: request.url }, "request failed unexpectedly");
    } else {
      request.log.debug({ err: error, statusCode: mapped.statusCode }, "request rejected");
    }
    void reply.code(mapped.statusCode).headers(mapped.headers).type("application/json").send(mapped.body);
  };

  app.addHook("onSend", async (request, reply) => {
    reply.header("x-request-id", request.id);
  });
  // close() closes the connections idle at that moment; one still sending a response (a file download)
  // would otherwise sit in keep-alive for Fastify's 72 s after it finishes, holding up shutdown.
  let closing = false;
  app.addHook("preClose", async () => {
    closing = true;
  });
  app.addHook("onResponse", async (request, reply) => {
    request.log.debug({ method: request.method, url: request.url, statusCode: reply.statusCode, ms: Math.round(reply.elapsedTime) }, "request");
    if (closing) setImmediate(() => app.server.closeIdleConnections());
  });
  if (ctx.config.apiKeys.length > 0) {
    const accepts = makeApiKeyCheck(ctx.config.apiKeys);
    app.addHook("onRequest", async (request) => {
      if (PUBLIC_PATHS.has(pathOf(request.url))) return;
      const key = presentedApiKey(request);
      if (key === null) {
        throw new AppError("unauthenticated", "No API key was sent. Send it as 'Authorization: Bearer <key>', 'x-goog-api-key: <key>' or '?key=<key>'.");
      }
      if (!accepts(key)) throw new AppError("unauthenticated", "Incorrect API key provided.");
    });
  }

  // An empty body with a JSON content type (curl -H 'content-type: application/json' -X POST .../cancel)
  // is no body, not a parse error. Everything else goes through Fastify's own (prototype-poisoning-safe)
  // parser.
  const parseJson = app.getDefaultJsonParser("error", "error");
  app.removeContentTypeParser("application/json");
  app.addContentTypeParser("application/json", { parseAs: "string", bodyLimit: JSON_BODY_LIMIT }, (request, body, done) => {
    const text = typeof body === "string" ? body : body.toString("utf8");
    if (text.trim().length === 0) {
      done(null, undefined);
      return;
    }
    parseJson(request, text, done);
  });

  app.setErrorHandler((error, request, reply) => sendError(error, request, reply));
  app.setNotFoundHandler((request, reply) => {
    const error = new AppError("not_found", `Invalid URL (${request.method} ${pathOf(request.url)}).`);
    sendError(error, request, reply);
  });

  app.get("/health", async () => ({ status: "ok" }));

  for (const surface of surfaces) app.register(async (scope) => surface.register(scope, ctx), { prefix: surface.prefix });
  return app;
}

/**
 * Benchmarks drive tens of thousands of requests: Fastify's two info lines per request would dominate the
 * log and the CPU. One debug line per request (onResponse hook above) is kept instead; failures are logged
 * by the error handler.
 */
class QuietLogController extends LogController {
  override incomingRequest(): void {}
  override requestCompleted(): void {}
}
