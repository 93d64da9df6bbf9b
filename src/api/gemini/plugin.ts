/**
 * The Gemini dialect as DialectSurfaces of the shared HTTP server: `/v1beta` and `/v1alpha` (REST),
 * `/upload` (file uploads) and `/download` (file bytes). `/v1` stays the OpenAI surface's; the genai SDK
 * uses v1beta unless told otherwise.
 *
 * Gemini paths carry `:verb` suffixes (`models/x:batchGenerateContent`, `batches/b:cancel`) and model names
 * may contain `/`, which Fastify's `:param` routing mis-parses. Each surface therefore mounts one wildcard
 * route and matches the path against the regex table below. Static routes of longer prefixes
 * (`/v1beta/openai/...`) still win over the wildcard in Fastify's router.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import type { AppContext } from "../../app-context.ts";
import { AppError } from "../../core/errors.ts";
import { JSON_BODY_LIMIT, type DialectSurface } from "../shared/dialect-surface.ts";
import { cancelBatch, createBatch, deleteBatch, getBatch, listBatches, type BatchVerb } from "./batches-routes.ts";
import { invalidArgument, toGeminiErrorReply } from "./errors.ts";
import { jsonErrorDetail, parseJsonBody } from "../shared/json-body.ts";
import { deleteFile, downloadFile, getFile, listFiles } from "./files-routes.ts";
import { getModel, listModels, runSync, type SyncVerb } from "./inference-routes.ts";
import { registerUploadRoutes } from "./upload-routes.ts";
import { UploadSessions } from "./upload-sessions.ts";
import { pathOf } from "../shared/url-path.ts";
import { callerOf } from "../shared/caller.ts";

type Method = "GET" | "POST" | "DELETE";
type Handler = (ctx: AppContext, groups: string[], request: FastifyRequest, reply: FastifyReply) => Promise<unknown>;

interface Route {
  methods: readonly Method[];
  pattern: RegExp;
  handle: Handler;
}

const V = String.raw`/v\w+`;
const ID = String.raw`([^/:?]+)`;

const REST_ROUTES: Route[] = [
  { methods: ["GET"], pattern: new RegExp(`^${V}/files$`), handle: (ctx, _g, request) => listFiles(ctx, request) },
  { methods: ["GET"], pattern: new RegExp(`^${V}/files/${ID}:download$`), handle: (ctx, [id], request, reply) => downloadFile(ctx, callerOf(request), id ?? "", reply) },
  { methods: ["GET"], pattern: new RegExp(`^${V}/files/${ID}$`), handle: (ctx, [id], request) => getFile(ctx, id ?? "", request) },
  { methods: ["DELETE"], pattern: new RegExp(`^${V}/files/${ID}$`), handle: (ctx, [id], request) => deleteFile(ctx, callerOf(request), id ?? "") },
  {
    methods: ["POST"],
    pattern: new RegExp(`^${V}/(?:models|tunedModels)/(.+):(batchGenerateContent|asyncBatchEmbedContent)$`),
    handle: (ctx, [model, verb], request) => createBatch(ctx, model ?? "", verb as BatchVerb, request),
  },
  {
    methods: ["POST"],
    pattern: new RegExp(`^${V}/(?:models|tunedModels)/(.+):(generateContent|streamGenerateContent|embedContent|batchEmbedContents)$`),
    handle: (ctx, [model, verb], request, reply) => runSync(ctx, model ?? "", verb as SyncVerb, request, reply),
  },
  {
    methods: ["POST"],
    pattern: new RegExp(`^${V}/(?:models|tunedModels)/(.+):(countTokens)$`),
    handle: async (_ctx, [, verb]) => {
      throw invalidArgument(`${verb} is not supported by spool yet; use generateContent.`, "method");
    },
  },
  { methods: ["GET"], pattern: new RegExp(`^${V}/models$`), handle: async (ctx) => listModels(ctx) },
  { methods: ["GET"], pattern: new RegExp(`^${V}/(?:models|tunedModels)/([^:]+)$`), handle: async (ctx, [model]) => getModel(ctx, model ?? "") },
  { methods: ["GET"], pattern: new RegExp(`^${V}/batches$`), handle: async (ctx, _g, request) => listBatches(ctx, callerOf(request), request.query as Record<string, unknown>) },
  { methods: ["GET"], pattern: new RegExp(`^${V}/batches/${ID}$`), handle: (ctx, [id], request) => getBatch(ctx, callerOf(request), id ?? "") },
  // GET aliases: the REST docs' curl examples call `:cancel` and `:delete` without -X POST.
  { methods: ["POST", "GET"], pattern: new RegExp(`^${V}/batches/${ID}:cancel$`), handle: (ctx, [id], request) => cancelBatch(ctx, callerOf(request), id ?? "") },
  { methods: ["DELETE"], pattern: new RegExp(`^${V}/batches/${ID}$`), handle: (ctx, [id], request) => deleteBatch(ctx, callerOf(request), id ?? "") },
  { methods: ["POST", "GET", "DELETE"], pattern: new RegExp(`^${V}/batches/${ID}:delete$`), handle: (ctx, [id], request) => deleteBatch(ctx, callerOf(request), id ?? "") },
];

const DOWNLOAD_ROUTES: Route[] = [
  { methods: ["GET"], pattern: new RegExp(`^/download${V}/files/${ID}:download$`), handle: (ctx, [id], request, reply) => downloadFile(ctx, callerOf(request), id ?? "", reply) },
];

/** Gemini replies are `application/json; charset=UTF-8`, errors included. */
function addJsonCharset(scope: FastifyInstance): void {
  scope.addHook("onSend", async (_request, reply, payload) => {
    const type = reply.getHeader("content-type");
    if (typeof type === "string" && /^application\/json(\s*;\s*charset=utf-8)?$/i.test(type)) reply.header("content-type", "application/json; charset=UTF-8");
    return payload;
  });
}

/** JSON bodies for the REST routes: an empty body is none; anything else must parse as JSON. */
function acceptJsonBodies(scope: FastifyInstance): void {
  const parseJson = scope.getDefaultJsonParser("error", "error");
  scope.removeAllContentTypeParsers();
  scope.addContentTypeParser("*", (request: FastifyRequest, _payload, done) =>
    parseJsonBody(
      request,
      parseJson,
      JSON_BODY_LIMIT,
      (text) => {
        const hint = text.trimStart().startsWith("{'") ? " Single-quoted pseudo-JSON (as in some curl examples) is not JSON: use double quotes." : "";
        return invalidArgument(`Invalid JSON payload received: ${jsonErrorDetail(text)}.${hint}`, null);
      },
      done,
    ),
  );
}

function mountRoutes(scope: FastifyInstance, ctx: AppContext, routes: readonly Route[]): void {
  scope.route({
    method: ["GET", "POST", "DELETE"],
    url: "/*",
    handler: async (request, reply) => {
      const path = pathOf(request.url);
      for (const route of routes) {
        const match = route.pattern.exec(path);
        if (!match || !route.methods.includes(request.method as Method)) continue;
        return route.handle(ctx, match.slice(1), request, reply);
      }
      throw new AppError("not_found", `Invalid URL (${request.method} ${path}): no such method in the Gemini API served by spool.`);
    },
  });
}

/** The Gemini surfaces, for buildHttpServer(ctx, { surfaces }). */
export function geminiSurfaces(): DialectSurface[] {
  const sessions = new UploadSessions();
  const rest = async (scope: FastifyInstance, ctx: AppContext): Promise<void> => {
    addJsonCharset(scope);
    acceptJsonBodies(scope);
    mountRoutes(scope, ctx, REST_ROUTES);
  };
  return [
    { name: "gemini", prefix: "/v1beta", register: rest, toErrorReply: toGeminiErrorReply },
    { name: "gemini-v1alpha", prefix: "/v1alpha", register: rest, toErrorReply: toGeminiErrorReply },
    {
      name: "gemini-upload",
      prefix: "/upload",
      register: async (scope, ctx) => {
        addJsonCharset(scope);
        await registerUploadRoutes(scope, ctx, sessions);
      },
      toErrorReply: toGeminiErrorReply,
    },
    {
      name: "gemini-download",
      prefix: "/download",
      register: async (scope, ctx) => {
        addJsonCharset(scope);
        acceptJsonBodies(scope);
        mountRoutes(scope, ctx, DOWNLOAD_ROUTES);
      },
      toErrorReply: toGeminiErrorReply,
    },
  ];
}
