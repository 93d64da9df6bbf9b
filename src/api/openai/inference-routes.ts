/**
 * Synchronous passthrough (`/chat/completions`, `/embeddings`, `/completions`, `/moderations`) and `/models`. Requests go
 * through the same Dispatcher as Batch Items, ahead of queued Batch traffic, so one engine configuration
 * serves both and the per-Model concurrency limit holds across them. `stream: true` (chat and completions)
 * streams the reply as Server-Sent Events while it is generated, in the same slot (Dispatcher.dispatchStream).
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import type { AppContext } from "../../app-context.ts";
import { AppError } from "../../core/errors.ts";
import { jsonTextOf } from "../../core/json.ts";
import type { CallKind } from "../../core/types.ts";
import { EngineError } from "../../core/engine.ts";
import { DEFAULT_MODERATION_MODEL, KIND_NOUN } from "../../dialects/openai/endpoints.ts";
import { engineErrorReply } from "./errors.ts";
import { sendEventStream } from "../shared/event-stream.ts";
import { OPENAI_COMPLETION_STREAM } from "./stream-formats.ts";
import { callerOf, fileOwnerOf } from "../shared/caller.ts";

export async function registerInferenceRoutes(app: FastifyInstance, ctx: AppContext): Promise<void> {
  const routes: [string, CallKind][] = [
    ["/chat/completions", "chat"],
    ["/embeddings", "embedding"],
    ["/completions", "completion"],
    // Served by openai engines (passed to the upstream's /moderations); other engines answer a 400 naming it.
    ["/moderations", "moderation"],
  ];
  for (const [path, kind] of routes) {
    app.post(path, async (request, reply) => passthrough(ctx, kind, request, reply));
  }

  const created = Math.floor(ctx.clock.now() / 1000);
  const toModel = (id: string) => ({ id, object: "model", created, owned_by: "spool" });
  app.get("/models", async () => ({ object: "list", data: ctx.catalog.names().map(toModel) }));
  app.get<{ Params: { model: string } }>("/models/:model", async (request) => {
    const config = ctx.catalog.get(request.params.model);
    if (!config) throw new AppError("unknown_model", ctx.catalog.unknownModelMessage(request.params.model), { param: "model" });
    return toModel(config.name);
  });
}

async function passthrough(ctx: AppContext, kind: CallKind, request: FastifyRequest, reply: FastifyReply): Promise<FastifyReply> {
  await ctx.tenants.takeSyncRequest(callerOf(request).tenant);
  const body = request.body;
  if (typeof body !== "object" || body === null || Array.isArray(body)) {
    throw new AppError("invalid_request", "The request body must be a JSON object.");
  }
  const fields = body as Record<string, unknown>;
  const model = kind === "moderation" && fields.model === undefined ? DEFAULT_MODERATION_MODEL : fields.model;
  if (typeof model !== "string" || model.length === 0) {
    throw new AppError("invalid_request", "'model' is required: the name of a configured model.", { param: "model" });
  }
  const streaming = fields.stream === true;
  if (streaming && (kind === "embedding" || kind === "moderation")) {
    throw new AppError("invalid_request", `${kind === "embedding" ? "Embeddings" : "Moderations"} do not stream: remove 'stream'.`, { param: "stream" });
  }
  if (fields.stream_options !== undefined && fields.stream_options !== null && !streaming) {
    throw new AppError("invalid_request", "'stream_options' is only allowed when 'stream' is true.", { param: "stream_options" });
  }
  const config = ctx.catalog.get(model);
  if (!config) throw new AppError("unknown_model", ctx.catalog.unknownModelMessage(model), { param: "model" });
  if (kind !== "moderation" && !ctx.catalog.serves(config, kind)) {
    throw new AppError("invalid_request", `Model '${model}' does not serve ${KIND_NOUN[kind]}.`, { param: "model" });
  }

  // A client that hangs up should not keep an engine slot busy.
  const controller = new AbortController();
  reply.raw.once("close", () => {
    if (!reply.raw.writableFinished) controller.abort();
  });
  try {
    if (streaming) {
      const stream = await ctx.dispatcher.dispatchStream({ model, kind, dialect: "openai", body: fields, priority: "sync", signal: controller.signal, owner: fileOwnerOf(request) });
      return await sendEventStream(reply, stream, OPENAI_COMPLETION_STREAM, (error) => request.log.debug({ err: error, model }, "stream failed after it began"));
    }
    const result = await ctx.dispatcher.dispatch({ model, kind, dialect: "openai", body: fields, priority: "sync", signal: controller.signal, owner: fileOwnerOf(request) });
    if (result.requestId) reply.header("x-upstream-request-id", result.requestId);
    // The upstream's own bytes when nothing changed the reply (core/json.ts), as Batch results are stored.
    return reply.code(result.statusCode).type("application/json").send(jsonTextOf(result.body ?? null));
  } catch (error) {
    if (!(error instanceof EngineError)) throw error;
    const mapped = engineErrorReply(error);
    request.log.debug({ err: error, model, statusCode: mapped.statusCode }, "synchronous request failed in its engine");
    return reply.code(mapped.statusCode).headers(mapped.headers).type("application/json").send(JSON.stringify(mapped.body));
  }
}
