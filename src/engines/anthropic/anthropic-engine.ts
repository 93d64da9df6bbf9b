/**
 * The `anthropic` Engine: Anthropic's Messages API (or anything speaking it). Native dialect "anthropic": the
 * request body goes to `POST {baseUrl}/v1/messages` as the client wrote it, apart from `model` (the Model's
 * `upstreamModel`, else its name) and streaming (a Batch Item has nobody to stream to), so parameters spool
 * does not know still reach the upstream. OpenAI and Gemini requests reach it translated
 * (src/dialects/translate/); it serves messages only.
 *
 * Retry decisions are the shared HTTP ones (src/engines/http/post-json.ts), which fit Anthropic's: 429
 * (rate_limit_error) and 529 (overloaded_error) and other 5xx are retried after `retry-after` when the
 * server sends one, `x-should-retry` overrides the status rule, 4xx are final.
 *
 * Replies carry the client's Model name as `model` (not `upstreamModel`, spool's own configuration).
 * Streams (`stream`) pass Anthropic's named events through as they arrive (message_start's model renamed
 * the same way); an `error` event mid-stream (`overloaded_error`, ...) fails the stream with the status
 * its type stands for.
 */
import type { Dispatcher } from "undici";
import type { AnthropicModelConfig } from "../../config/config.ts";
import { isObject } from "../../core/json.ts";
import type { TokenUsage } from "../../core/types.ts";
import { EngineError, type Engine, type EngineReply, type EngineRequest, type EngineStream } from "../../core/engine.ts";
import { EndingIterator } from "../../core/ending-iterator.ts";
import { withClientModelName } from "../http/client-model-name.ts";
import { postJson } from "../http/post-json.ts";
import { postStream } from "../http/post-stream.ts";
import { jsonChunks } from "../http/stream-chunks.ts";
import { closedError, UpstreamPools } from "../http/upstream-pools.ts";

export const ANTHROPIC_DEFAULT_BASE_URL = "https://api.anthropic.com";
/** The API version spool speaks upstream unless the Model says otherwise. */
export const DEFAULT_ANTHROPIC_VERSION = "2023-06-01";

interface Route {
  model: AnthropicModelConfig;
  dispatcher: Dispatcher;
  /** `/v1/messages` under the baseUrl's path. */
  path: string;
  origin: string;
  headers: Record<string, string>;
  upstreamModel: string;
}

export interface AnthropicEngineOptions {
  name?: string;
  nowMs?: () => number;
}

export class AnthropicEngine implements Engine {
  readonly name: string;
  readonly dialect = "anthropic" as const;
  private readonly pools = new UpstreamPools();
  // Keyed by the config object: a reloaded config (new object) gets a fresh route.
  private readonly routes = new WeakMap<AnthropicModelConfig, Route>();
  private readonly nowMs: () => number;
  private closed = false;

  constructor(options: AnthropicEngineOptions = {}) {
    this.name = options.name ?? "anthropic";
    this.nowMs = options.nowMs ?? Date.now;
  }

  async execute(request: EngineRequest): Promise<EngineReply> {
    if (this.closed) throw closedError();
    const route = this.routeOf(request);
    const description = `POST ${route.origin}${route.path} (model '${route.model.name}')`;
    const { stream: _stream, ...rest } = request.body;
    const reply = await postJson({
      dispatcher: route.dispatcher,
      path: route.path,
      headers: route.headers,
      body: JSON.stringify({ ...rest, model: route.upstreamModel }),
      signal: request.signal,
      timeoutMs: route.model.timeoutMs,
      description,
      nowMs: this.nowMs,
    }).catch((error: unknown) => {
      throw this.closed ? closedError() : error;
    });
    // Lenient: only "an object" is required, checked by hand (a schema parse would copy the whole reply,
    // which is stored as the upstream's own bytes when nothing changes it; decision 0011).
    const body = reply.body;
    if (!isObject(body)) {
      const message = "Upstream answered with JSON that is not an object.";
      throw new EngineError({
        kind: "http",
        message: `${description} answered ${reply.statusCode} with JSON that is not an object.`,
        statusCode: 502,
        body: { type: "error", error: { type: "api_error", message } },
        retryable: true,
        requestId: reply.requestId,
      });
    }
    const requestId = reply.requestId ?? (typeof body.id === "string" ? body.id : null);
    return { statusCode: 200, body: withClientModelName(body, "model", route.model.name), usage: usageOf(body.usage), requestId };
  }

  async stream(request: EngineRequest): Promise<EngineStream> {
    if (this.closed) throw closedError();
    const route = this.routeOf(request);
    const description = `POST ${route.origin}${route.path} (model '${route.model.name}')`;
    let opened;
    try {
      opened = await postStream({
        dispatcher: route.dispatcher,
        path: route.path,
        headers: { ...route.headers, accept: "text/event-stream" },
        body: JSON.stringify({ ...request.body, model: route.upstreamModel, stream: true }),
        signal: request.signal,
        description,
        nowMs: this.nowMs,
      });
    } catch (error) {
      throw this.closed ? closedError() : error;
    }
    const modelName = route.model.name;
    const chunks = jsonChunks(opened.events, {
      description,
      requestId: opened.requestId,
      rewrite: (data) => {
        if (data.type === "message_start" && isObject(data.message)) data.message.model = modelName;
      },
    });
    const ending = new EndingIterator(chunks, (reason) => {
      opened.close();
      return reason.how === "failed" ? withStatusOfType(reason.error) : undefined;
    });
    return { requestId: opened.requestId, chunks: ending };
  }

  async close(): Promise<void> {
    this.closed = true;
    await this.pools.close();
  }

  private routeOf(request: EngineRequest): Route {
    const model = request.model;
    if (model.engine !== "anthropic") {
      throw new EngineError({ kind: "unsupported", message: `Engine '${this.name}' cannot serve model '${model.name}' (engine '${model.engine}').`, retryable: false });
    }
    if (request.dialect !== "anthropic" || request.kind !== "chat") {
      throw new EngineError({ kind: "unsupported", message: `Engine '${this.name}' takes Anthropic Messages requests, got a ${request.dialect} ${request.kind} request.`, retryable: false });
    }
    let route = this.routes.get(model);
    if (route === undefined) {
      route = this.buildRoute(model);
      this.routes.set(model, route);
    }
    return route;
  }

  private buildRoute(model: AnthropicModelConfig): Route {
    const url = new URL(model.baseUrl ?? ANTHROPIC_DEFAULT_BASE_URL);
    const headers: Record<string, string> = {
      "content-type": "application/json",
      accept: "application/json",
      "anthropic-version": model.anthropicVersion ?? DEFAULT_ANTHROPIC_VERSION,
      ...Object.fromEntries(Object.entries(model.headers ?? {}).map(([name, value]) => [name.toLowerCase(), value])),
    };
    if (model.apiKey) headers["x-api-key"] = model.apiKey;
    return {
      model,
      dispatcher: this.pools.get({ key: model.name, origin: url.origin, connections: model.concurrency }),
      // A baseUrl with or without the version segment both work: ".../v1" is not doubled.
      path: `${url.pathname.replace(/\/+$/, "").replace(/\/v1$/, "")}/v1/messages`,
      origin: url.origin,
      headers,
      upstreamModel: model.upstreamModel ?? model.name,
    };
  }
}

/** HTTP statuses of Anthropic's error types, for an `error` event that arrives mid-stream (it has no status). */
const STATUS_BY_TYPE: Record<string, number> = {
  invalid_request_error: 400,
  authentication_error: 401,
  permission_error: 403,
  not_found_error: 404,
  request_too_large: 413,
  rate_limit_error: 429,
  timeout_error: 504,
  overloaded_error: 529,
};

function withStatusOfType(error: unknown): unknown {
  if (!(error instanceof EngineError) || !isObject(error.body) || !isObject(error.body.error)) return undefined;
  const type = error.body.error.type;
  const statusCode = typeof type === "string" ? STATUS_BY_TYPE[type] : undefined;
  if (statusCode === undefined || statusCode === error.statusCode) return undefined;
  return new EngineError({ kind: error.kind, message: error.message, statusCode, body: error.body, retryable: false, requestId: error.requestId, cause: error });
}

/** Anthropic counts cache reads and writes apart from input; spool's usage is every prompt token vs output. */
function usageOf(usage: unknown): TokenUsage {
  if (!isObject(usage)) return { inputTokens: 0, outputTokens: 0 };
  const count = (value: unknown): number => (typeof value === "number" && Number.isFinite(value) ? value : 0);
  return {
    inputTokens: count(usage.input_tokens) + count(usage.cache_creation_input_tokens) + count(usage.cache_read_input_tokens),
    outputTokens: count(usage.output_tokens),
    cachedInputTokens: count(usage.cache_read_input_tokens),
  };
}
