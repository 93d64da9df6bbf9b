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
import Fastify, { LogController, type FastifyBaseLogger, type FastifyError, type FastifyInstance, type FastifyReply, type FastifyRequest } from "fastify";
import type { Socket } from "node:net";
import type { AppContext } from "../app-context.ts";
import { AppError } from "../core/errors.ts";
import { randomToken } from "../core/ids.ts";
import { addAuthentication } from "./shared/caller.ts";
import { addCors } from "./shared/cors.ts";
import { makeClientErrorHandler } from "./shared/client-errors.ts";
import { JSON_BODY_LIMIT, type DialectSurface } from "./shared/dialect-surface.ts";
import { HttpEdgeError } from "./shared/edge-errors.ts";
import type { ErrorMapper } from "./shared/error-reply.ts";
import { jsonErrorDetail, parseJsonBody } from "./shared/json-body.ts";
import { settleUnreadBody, watchBodyIdle } from "./shared/request-body.ts";
import { loggablePath, pathOf } from "./shared/url-path.ts";
import { checkReadiness, type ReadinessSources } from "./shared/readiness.ts";

export interface HttpServerOptions {
  /**
   * Every dialect's surfaces, as the composition root lists them. The first one's error mapper also answers
   * for paths under no surface (`/`, `/health`, unknown prefixes).
   */
  surfaces: readonly DialectSurface[];
  /** Where `/` redirects (the dashboard); without it `/` is a 404. */
  home?: string;
  /** What `/ready` checks (src/api/shared/readiness.ts); default: the Store only. */
  readiness?: ReadinessSources;
}

/** Paths that answer without an API key (besides those a surface declares public). */
const PUBLIC_PATHS = new Set(["/health", "/ready", "/"]);

export function buildHttpServer(ctx: AppContext, options: HttpServerOptions): FastifyInstance {
  const timeouts = ctx.config.server;
  const app: FastifyInstance = Fastify({
    // A pino Logger is a FastifyBaseLogger; typing it as such keeps FastifyInstance's default generics.
    loggerInstance: ctx.logger as FastifyBaseLogger,
    logController: new QuietLogController(),
    bodyLimit: JSON_BODY_LIMIT,
    genReqId: () => `req_${randomToken(20)}`,
    // Answered by the closing hook below, in the dialect's envelope rather than Fastify's.
    return503OnClosing: false,
    // Ids are never matched by regex, so the 100-character default guards nothing; Node's 16 KiB limit on
    // the request line bounds them anyway (a longer id is a 404 naming it, a longer URL a 414).
    routerOptions: { maxParamLength: 16 * 1024 },
    requestTimeout: timeouts.requestTimeoutMs,
    keepAliveTimeout: timeouts.keepAliveTimeoutMs,
    // Node checks its header and request deadlines on this interval (30 s by default, which would make a
    // 10 s deadline a 40 s one).
    http: { headersTimeout: timeouts.headersTimeoutMs, connectionsCheckingInterval: checkingIntervalMs(timeouts) },
    frameworkErrors: (error, request, reply) => sendError(frameworkError(error, request.url), request, reply),
    clientErrorHandler: (error, socket) => onClientError(error, socket),
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
    // A reader that failed after the reply left (its connection ended under it) has nobody to answer.
    if (reply.sent || reply.raw.headersSent) return;
    const mapped = errorMapperFor(request.url)(error, request.id);
    settleUnreadBody(request, reply, error);
    reply.header("x-request-id", request.id);
    if (mapped.unexpected) {
      request.log.error({ err: error, method: request.method, path: loggablePath(request.url) }, "request failed unexpectedly");
    } else {
      request.log.debug({ err: error, statusCode: mapped.statusCode }, "request rejected");
    }
    void reply.code(mapped.statusCode).headers(mapped.headers).type("application/json").send(mapped.body);
  };
  const onClientError = makeClientErrorHandler({
    mapperFor: errorMapperFor,
    headersTimeoutMs: timeouts.headersTimeoutMs,
    requestTimeoutMs: timeouts.requestTimeoutMs,
    log: (error, statusCode) => ctx.logger.debug({ err: error, statusCode }, "request rejected by the HTTP parser"),
  });

  // close() closes the connections idle at that moment; one still sending a response (a file download)
  // would otherwise sit in keep-alive for Fastify's 72 s after it finishes, holding up shutdown.
  let closing = false;
  // Connections that never sent a byte (a client's pool opening one ahead of need, as undici does after an
  // aborted stream) count as active to Node, so close() would wait for them until the header deadline.
  // (Node's http parser reads the socket natively, so bytesRead, not a 'data' listener, tells them apart.)
  const sockets = new Set<Socket>();
  app.server.on("connection", (socket: Socket) => {
    sockets.add(socket);
    socket.once("close", () => sockets.delete(socket));
  });
  app.addHook("preClose", async () => {
    closing = true;
    for (const socket of sockets) if (socket.bytesRead === 0) socket.destroy();
  });
  // The server's hooks take Fastify's callback form: an async hook costs a promise and a microtask hop on
  // every request, and these do nothing that waits (issue 11: with the body deadline armed only when needed,
  // and the request id set here rather than in an onSend hook, spool's CPU per sync request fell by a
  // fifth).
  app.addHook("onRequest", (request, reply, done) => {
    // Every reply carries it, error replies included (sendError sets it again for replies made elsewhere).
    reply.header("x-request-id", request.id);
    if (closing) return done(new AppError("unavailable", "The server is shutting down; retry the request."));
    watchBodyIdle(request, reply, timeouts);
    done();
  });
  // The access log: one line per request, when its response ended (or its client went away).
  app.addHook("onResponse", (request, reply, done) => {
    const ms = Math.round(reply.elapsedTime * 10) / 10;
    request.log.info({ method: request.method, path: loggablePath(request.url), status: reply.statusCode, ms }, "request");
    if (closing) setImmediate(() => app.server.closeIdleConnections());
    done();
  });
  addCors(app, ctx.config.corsOrigins);
  const isPublic = (path: string): boolean => PUBLIC_PATHS.has(path) || surfaces.some((surface) => surface.isPublic?.(path) === true);
  addAuthentication(app, ctx, isPublic, pathOf);

  // An empty body with a JSON content type (curl -H 'content-type: application/json' -X POST .../cancel)
  // is no body, not a parse error. Everything else goes through Fastify's own (prototype-poisoning-safe)
  // parser, after the nesting check.
  const parseJson = app.getDefaultJsonParser("error", "error");
  app.removeContentTypeParser("application/json");
  app.addContentTypeParser("application/json", (request: FastifyRequest, _payload, done) =>
    parseJsonBody(request, parseJson, JSON_BODY_LIMIT, (text, cause) => new AppError("invalid_request", `The request body is not valid JSON: ${jsonErrorDetail(text)}.`, { cause }), done),
  );

  app.setErrorHandler((error, request, reply) => sendError(error, request, reply));
  app.setNotFoundHandler((request, reply) => {
    const error = new AppError("not_found", `Invalid URL (${request.method} ${pathOf(request.url)}).`);
    sendError(error, request, reply);
  });

  // Liveness: the process runs. Readiness: it can take requests now (store reachable, models loaded).
  app.get("/health", async () => ({ status: "ok" }));
  app.get("/ready", async (_request, reply) => {
    const report = await checkReadiness(options.readiness ?? { pingStore: () => ctx.store.ping(), models: () => [] });
    return reply.code(report.statusCode).send(report.body);
  });
  const home = options.home;
  if (home !== undefined) app.get("/", async (_request, reply) => reply.redirect(home, 302));

  for (const surface of surfaces) app.register(async (scope) => surface.register(scope, ctx), { prefix: surface.prefix });
  return app;
}

function checkingIntervalMs(timeouts: AppContext["config"]["server"]): number {
  const shortest = Math.min(timeouts.headersTimeoutMs, timeouts.requestTimeoutMs > 0 ? timeouts.requestTimeoutMs : Number.POSITIVE_INFINITY, 30_000);
  return Math.max(100, Math.floor(shortest / 4));
}

/** Router failures Fastify reports before any route runs, as errors the dialect mappers know. */
function frameworkError(error: FastifyError, url: string): unknown {
  if (error.code === "FST_ERR_BAD_URL") {
    const shown = url.length > 200 ? `${url.slice(0, 200)}…` : url;
    const message = `The URL ${shown} is malformed: it must be percent-encoded UTF-8 (each '%' followed by two hex digits, the bytes forming UTF-8 characters).`;
    return new AppError("invalid_request", message, { param: "url" });
  }
  if (error.code === "FST_ERR_MAX_PARAM_LENGTH") {
    return new HttpEdgeError(414, "uri_too_long", "A path segment of the URL is too long.");
  }
  return error;
}

/**
 * Fastify's own two lines per request (incoming, completed) are replaced by the one access line of the
 * onResponse hook above; failures are logged by the error handler.
 */
class QuietLogController extends LogController {
  override incomingRequest(): void {}
  override requestCompleted(): void {}
}
