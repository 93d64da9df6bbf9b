/**
 * The Responses API, synchronous: `POST /responses`, streamed (`stream: true`, Responses events) or not.
 * Served through chat completions on every Engine (src/dialects/translate/responses-*.ts): the body is
 * translated, dispatched like a `/chat/completions` request (same lane, sync priority), and the chat
 * completion, or each chunk of its stream, translated back. A body that has no chat form is a 400 naming
 * the field before anything runs. spool stores no responses, so there is no GET/DELETE /responses/{id}.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import type { AppContext } from "../../app-context.ts";
import { EngineError } from "../../core/engine.ts";
import { ChunkPipe } from "../../core/ending-iterator.ts";
import { AppError } from "../../core/errors.ts";
import { isObject, type JsonObject } from "../../core/json.ts";
import { responsesToChatRequest } from "../../dialects/translate/responses-request.ts";
import { chatToResponse } from "../../dialects/translate/responses-reply.ts";
import { ChatToResponsesStream } from "../../dialects/translate/responses-stream.ts";
import { TranslationError } from "../../dialects/translate/translation-error.ts";
import { sendEventStream } from "../shared/event-stream.ts";
import { engineErrorReply } from "./errors.ts";
import { OPENAI_RESPONSE_STREAM } from "./stream-formats.ts";
import { callerOf } from "../shared/caller.ts";

export async function registerResponsesRoutes(app: FastifyInstance, ctx: AppContext): Promise<void> {
  app.post("/responses", async (request, reply) => respond(ctx, request, reply));
}

async function respond(ctx: AppContext, request: FastifyRequest, reply: FastifyReply): Promise<FastifyReply> {
  await ctx.tenants.takeSyncRequest(callerOf(request).tenant);
  const body = request.body;
  if (!isObject(body)) throw new AppError("invalid_request", "The request body must be a JSON object.");
  const model = body.model;
  if (typeof model !== "string" || model.length === 0) {
    throw new AppError("invalid_request", "'model' is required: the name of a configured model.", { param: "model", reason: "missing_required_parameter" });
  }
  const config = ctx.catalog.get(model);
  if (!config) throw new AppError("unknown_model", ctx.catalog.unknownModelMessage(model), { param: "model" });
  if (!ctx.catalog.serves(config, "chat")) throw new AppError("invalid_request", `Model '${model}' does not serve text generation.`, { param: "model" });
  const chat = chatRequestOf(body);
  const echo = { request: body, modelName: model };

  // A client that hangs up should not keep an engine slot busy.
  const controller = new AbortController();
  reply.raw.once("close", () => {
    if (!reply.raw.writableFinished) controller.abort();
  });
  try {
    if (body.stream === true) {
      const stream = await ctx.dispatcher.dispatchStream({ model, kind: "chat", dialect: "openai", body: { ...chat, stream_options: { include_usage: true } }, priority: "sync", signal: controller.signal });
      const translator = new ChatToResponsesStream(echo);
      const events = new ChunkPipe(stream.chunks, (chunk) => translator.chunk(chunk.data), () => translator.end());
      return await sendEventStream(reply, { requestId: stream.requestId, chunks: events }, OPENAI_RESPONSE_STREAM, (error) => request.log.debug({ err: error, model }, "stream failed after it began"));
    }
    const result = await ctx.dispatcher.dispatch({ model, kind: "chat", dialect: "openai", body: chat, priority: "sync", signal: controller.signal });
    if (result.requestId) reply.header("x-upstream-request-id", result.requestId);
    const ok = result.statusCode >= 200 && result.statusCode < 300;
    return reply.code(result.statusCode).type("application/json").send(JSON.stringify(ok ? chatToResponse(result.body, echo) : (result.body ?? null)));
  } catch (error) {
    if (!(error instanceof EngineError)) throw error;
    const mapped = engineErrorReply(error);
    request.log.debug({ err: error, model, statusCode: mapped.statusCode }, "response request failed in its engine");
    return reply.code(mapped.statusCode).headers(mapped.headers).type("application/json").send(JSON.stringify(mapped.body));
  }
}

function chatRequestOf(body: JsonObject): JsonObject {
  try {
    return responsesToChatRequest(body);
  } catch (error) {
    if (error instanceof TranslationError) throw new AppError("invalid_request", error.message, { param: error.param, reason: error.message.startsWith("Unrecognized") ? "unknown_parameter" : "unsupported_parameter" });
    throw error;
  }
}
