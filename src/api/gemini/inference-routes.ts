/**
 * Synchronous `models/{m}:generateContent`, `:streamGenerateContent` (Server-Sent Events with `alt=sse`, a
 * streamed JSON array without), `:embedContent`, `:batchEmbedContents`, and the model list.
 * Requests go through the same Dispatcher as Batch Items (ahead of batch traffic); engines in the other
 * dialect are translated by the registry, so bodies and replies here are always Gemini-shaped.
 */
import type { FastifyReply, FastifyRequest } from "fastify";
import type { AppContext } from "../../app-context.ts";
import { AppError } from "../../core/errors.ts";
import type { RequestKind } from "../../core/types.ts";
import type { ModelConfig } from "../../config/config.ts";
import { EngineError, type EngineReply } from "../../core/engine.ts";
import { resolveModel } from "./batches-routes.ts";
import { engineErrorReply, invalidArgument } from "./errors.ts";
import { sendEventStream } from "../shared/event-stream.ts";
import { GEMINI_ARRAY_STREAM, GEMINI_SSE_STREAM } from "./stream-formats.ts";
import { checkRequest } from "../../dialects/gemini/request-checks.ts";
import { field, isObject, type Json } from "../../dialects/gemini/wire.ts";
import { callerOf } from "../shared/caller.ts";

export type SyncVerb = "generateContent" | "streamGenerateContent" | "embedContent" | "batchEmbedContents";

function checked(ctx: AppContext, body: unknown, path: string, kind: RequestKind, model: string): Json {
  if (!isObject(body)) throw invalidArgument("The request body must be a JSON object.", path);
  const result = checkRequest(body, path, kind, model, ctx.catalog);
  if (result.problems.length > 0) {
    const violations = result.problems.map((problem) => ({ field: problem.param, description: problem.message }));
    throw invalidArgument(result.problems.map((problem) => problem.message).join(" "), violations[0]?.field ?? null, violations);
  }
  return body;
}

export async function runSync(ctx: AppContext, rawModel: string, verb: SyncVerb, request: FastifyRequest, reply: FastifyReply): Promise<FastifyReply> {
  await ctx.tenants.takeSyncRequest(callerOf(request).tenant);
  const kind: RequestKind = verb === "generateContent" || verb === "streamGenerateContent" ? "chat" : "embedding";
  const model = resolveModel(ctx, rawModel, kind);
  // A client that hangs up should not keep an engine slot busy.
  const controller = new AbortController();
  reply.raw.once("close", () => {
    if (!reply.raw.writableFinished) controller.abort();
  });
  const dispatch = (body: Json, itemModel: string): Promise<EngineReply> =>
    ctx.dispatcher.dispatch({ model: itemModel, kind, dialect: "gemini", body, priority: "sync", signal: controller.signal });
  try {
    if (verb === "streamGenerateContent") {
      const body = checked(ctx, request.body, "request", kind, model);
      const stream = await ctx.dispatcher.dispatchStream({ model, kind, dialect: "gemini", body, priority: "sync", signal: controller.signal });
      const format = (request.query as Record<string, unknown>).alt === "sse" ? GEMINI_SSE_STREAM : GEMINI_ARRAY_STREAM;
      return await sendEventStream(reply, stream, format, (error) => request.log.debug({ err: error, model }, "stream failed after it began"));
    }
    if (verb !== "batchEmbedContents") {
      const result = await dispatch(checked(ctx, request.body, "request", kind, model), model);
      if (result.requestId) reply.header("x-upstream-request-id", result.requestId);
      return reply.code(result.statusCode).type("application/json").send(JSON.stringify(result.body ?? null));
    }
    const body = request.body;
    const list = isObject(body) ? field(body, "requests") : undefined;
    if (!Array.isArray(list) || list.length === 0) throw invalidArgument("'requests' must be a non-empty list of EmbedContentRequest objects.", "requests");
    const bodies = list.map((entry, index) => checked(ctx, entry, `requests[${index}]`, kind, model));
    const results = await Promise.all(bodies.map((each) => dispatch(each, model)));
    const failed = results.find((result) => result.statusCode < 200 || result.statusCode >= 300);
    if (failed) return reply.code(failed.statusCode).type("application/json").send(JSON.stringify(failed.body ?? null));
    const embeddings = results.map((result) => (isObject(result.body) ? result.body.embedding : undefined));
    return reply.code(200).type("application/json").send(JSON.stringify({ embeddings }));
  } catch (error) {
    if (!(error instanceof EngineError)) throw error;
    const mapped = engineErrorReply(error);
    request.log.debug({ err: error, model, statusCode: mapped.statusCode }, "synchronous request failed in its engine");
    return reply.code(mapped.statusCode).headers(mapped.headers).type("application/json").send(JSON.stringify(mapped.body));
  }
}

function methodsOf(config: ModelConfig): string[] {
  const serves = (kind: RequestKind): boolean => !config.kinds || config.kinds.includes(kind);
  const methods: string[] = [];
  if (serves("chat")) methods.push("generateContent", "streamGenerateContent", "batchGenerateContent");
  if (serves("embedding")) methods.push("embedContent", "batchEmbedContents", "asyncBatchEmbedContent");
  return methods;
}

export function toGeminiModel(config: ModelConfig): Json {
  return {
    name: `models/${config.name}`,
    baseModelId: config.name,
    version: "spool",
    displayName: config.name,
    description: `Served by spool through its ${config.engine} engine.`,
    supportedGenerationMethods: methodsOf(config),
  };
}

export function listModels(ctx: AppContext): Json {
  return { models: ctx.catalog.models.map(toGeminiModel) };
}

export function getModel(ctx: AppContext, rawModel: string): Json {
  const name = decodeURIComponent(rawModel).replace(/^models\//, "");
  const config = ctx.catalog.get(name);
  if (!config) throw new AppError("unknown_model", `models/${name} is not found: ${ctx.catalog.unknownModelMessage(name)}`, { param: "name" });
  return toGeminiModel(config);
}
