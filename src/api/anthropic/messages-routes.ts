/**
 * Synchronous `POST /v1/messages` and `POST /v1/messages/count_tokens`. Requests go through the same
 * Dispatcher as Batch Items, ahead of queued Batch traffic, so one engine configuration serves both and the
 * per-Model concurrency limit holds across them; translation lets them run on any engine. `stream: true`
 * streams the reply as Anthropic's named Server-Sent Events while it is generated (Dispatcher.dispatchStream).
 *
 * count_tokens has no counterpart in the Engine contract. It runs the request with `max_tokens: 1` and
 * reports the prompt tokens the engine counted (decision 0016): exact for the engine's own tokenizer and chat
 * template on every engine, at the price of one prompt evaluation (which a prefix-caching engine keeps for
 * the real request that usually follows) and one generated token.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import type { AppContext } from "../../app-context.ts";
import { AppError } from "../../core/errors.ts";
import { EngineError, type EngineReply } from "../../core/engine.ts";
import { isObject } from "../../core/json.ts";
import { checkMessagesRequest } from "../../dialects/anthropic/request-checks.ts";
import { sendEventStream } from "../shared/event-stream.ts";
import { engineErrorReply } from "./errors.ts";
import { ANTHROPIC_MESSAGE_STREAM } from "./stream-format.ts";
import { callerOf } from "../shared/caller.ts";

export function registerMessagesRoutes(app: FastifyInstance, ctx: AppContext): void {
  app.post("/", async (request, reply) => createMessage(ctx, request, reply));
  app.post("/count_tokens", async (request, reply) => countTokens(ctx, request, reply));
}

async function createMessage(ctx: AppContext, request: FastifyRequest, reply: FastifyReply): Promise<FastifyReply> {
  const { model, body } = checkedBody(ctx, request.body);
  return dispatchMessage(ctx, model, body, request, reply, (result) => result.body);
}

async function countTokens(ctx: AppContext, request: FastifyRequest, reply: FastifyReply): Promise<FastifyReply> {
  // count_tokens bodies carry no max_tokens (and may carry none of the generation fields).
  const { model, body } = checkedBody(ctx, isObject(request.body) ? { ...request.body, max_tokens: 1 } : request.body);
  const { stream: _stream, ...probe } = body;
  return dispatchMessage(ctx, model, probe, request, reply, (result) => {
    const usage = isObject(result.body) && isObject(result.body.usage) ? result.body.usage : {};
    const count = (name: string): number => (typeof usage[name] === "number" ? usage[name] : 0);
    return { input_tokens: count("input_tokens") + count("cache_read_input_tokens") + count("cache_creation_input_tokens") };
  });
}

/** The body checked as the service checks it; problems become one 400 (an unknown model alone a 404). */
function checkedBody(ctx: AppContext, body: unknown): { model: string; body: Record<string, unknown> } {
  const { model, problems } = checkMessagesRequest(body, "", ctx.catalog, { batch: false });
  const [first] = problems;
  if (first !== undefined || model === null || !isObject(body)) {
    if (problems.length === 1 && first?.code === "model_not_found") throw new AppError("unknown_model", first.message, { param: "model" });
    throw new AppError("invalid_request", problems.map((problem) => problem.message).join(" ") || "The request body must be a JSON object.", { param: first?.param || null });
  }
  return { model, body };
}

async function dispatchMessage(
  ctx: AppContext,
  model: string,
  body: Record<string, unknown>,
  request: FastifyRequest,
  reply: FastifyReply,
  toWire: (result: EngineReply) => unknown,
): Promise<FastifyReply> {
  await ctx.tenants.takeSyncRequest(callerOf(request).tenant);
  // A client that hangs up should not keep an engine slot busy.
  const controller = new AbortController();
  reply.raw.once("close", () => {
    if (!reply.raw.writableFinished) controller.abort();
  });
  try {
    if (body.stream === true) {
      const stream = await ctx.dispatcher.dispatchStream({ model, kind: "chat", dialect: "anthropic", body, priority: "sync", signal: controller.signal });
      return await sendEventStream(reply, stream, ANTHROPIC_MESSAGE_STREAM, (error) => request.log.debug({ err: error, model }, "stream failed after it began"));
    }
    const result = await ctx.dispatcher.dispatch({ model, kind: "chat", dialect: "anthropic", body, priority: "sync", signal: controller.signal });
    if (result.requestId) reply.header("x-upstream-request-id", result.requestId);
    const ok = result.statusCode >= 200 && result.statusCode < 300;
    return reply.code(result.statusCode).type("application/json").send(JSON.stringify(ok ? toWire(result) : (result.body ?? null)));
  } catch (error) {
    if (!(error instanceof EngineError)) throw error;
    const mapped = engineErrorReply(error);
    request.log.debug({ err: error, model, statusCode: mapped.statusCode }, "synchronous request failed in its engine");
    return reply.code(mapped.statusCode).headers(mapped.headers).type("application/json").send(JSON.stringify(mapped.body));
  }
}
