/**
 * The web dashboard at `/dashboard` (decision 0014): a page served by spool itself (assets/), talking to
 * the JSON API below it with the API key the user enters once (kept in the browser's localStorage). The
 * page and its assets are public, like a login page; every `/dashboard/api/...` call needs a key when
 * keys are configured, and downloads go through signed links.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import type { AppContext } from "../../app-context.ts";
import { AppError } from "../../core/errors.ts";
import type { DialectSurface } from "../shared/dialect-surface.ts";
import { loadAssets, type Asset } from "./assets.ts";
import { registerBatchRoutes } from "./batch-routes.ts";
import { toDashboardErrorReply } from "./errors.ts";
import { DOWNLOAD_PREFIX, registerFileRoutes } from "./file-routes.ts";
import { registerModelRoutes } from "./model-routes.ts";

export const DASHBOARD_PREFIX = "/dashboard";

export function dashboardSurface(): DialectSurface {
  const assets = loadAssets();
  return {
    name: "dashboard",
    prefix: DASHBOARD_PREFIX,
    toErrorReply: toDashboardErrorReply,
    isPublic: (path) =>
      path === DASHBOARD_PREFIX || path === `${DASHBOARD_PREFIX}/` || path.startsWith(`${DASHBOARD_PREFIX}/assets/`) || path.startsWith(`${DASHBOARD_PREFIX}${DOWNLOAD_PREFIX}`),
    async register(scope: FastifyInstance, ctx: AppContext) {
      const page = (_request: FastifyRequest, reply: FastifyReply) => sendAsset(reply, _request, assets.get("index.html"));
      scope.get("/", page);
      scope.get<{ Params: { name: string } }>("/assets/:name", async (request, reply) => sendAsset(reply, request, assets.get(request.params.name)));
      await registerBatchRoutes(scope, ctx);
      await registerModelRoutes(scope, ctx);
      await registerFileRoutes(scope, ctx, DASHBOARD_PREFIX);
    },
  };
}

function sendAsset(reply: FastifyReply, request: FastifyRequest, asset: Asset | undefined): FastifyReply {
  if (asset === undefined) throw new AppError("not_found", `No such dashboard file: ${request.url}.`);
  reply.header("etag", asset.etag).header("cache-control", "no-cache").header("x-content-type-options", "nosniff");
  // Only spool's own files may load or run, and no other site may frame the page (clickjacking the actions).
  if (asset.contentType.startsWith("text/html")) reply.header("content-security-policy", "default-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'");
  if (request.headers["if-none-match"] === asset.etag) return reply.code(304).send();
  return reply.type(asset.contentType).send(asset.body);
}
