/**
 * The `openai` Engine serves every OpenAI-compatible server (OpenAI, vLLM, llama.cpp's llama-server, LiteLLM,
 * Ollama's /v1, ...). Native dialect "openai": the request body is forwarded as the client wrote it, apart
 * from `model` (the Model's `upstreamModel`, else its name; replies get the client's name back) and streaming (a Batch Item has nobody to
 * stream to), so parameters spool does not know still reach the upstream.
 *
 * Streaming (`stream`): the body goes up with `stream: true` and the upstream's Server-Sent Events come back
 * as chunks, passed through as they arrive with only `model` rewritten to the client's Model name (the
 * upstream's name for it is spool's configuration, not the client's business).
 *
 * Retries, concurrency and the per-attempt timeout belong to the Dispatcher; this adapter makes one HTTP
 * exchange and says, through EngineError, whether another is worth it.
 *
 * A Model may list several upstream URLs (`baseUrls`, replicas of one server): each request goes to one of
 * them chosen by its prompt prefix (prefix-key.ts, http/prefix-router.ts), so replicas' prefix caches stay
 * warm, and a URL that fails is skipped for a while, its requests going to the next URL.
 */
import type { Dispatcher } from "undici";
import type { OpenAIModelConfig } from "../../config/config.ts";
import { isObject, jsonTextOf } from "../../core/json.ts";
import type { CallKind, TokenUsage } from "../../core/types.ts";
import { EngineError, type Engine, type EnginePack, type EngineReply, type EngineRequest, type EngineStream, type PackCandidate, type PackKey } from "../../core/engine.ts";
import { EndingIterator } from "../../core/ending-iterator.ts";
import { withClientModelName } from "../http/client-model-name.ts";
import { postJson } from "../http/post-json.ts";
import { postStream } from "../http/post-stream.ts";
import { jsonChunks } from "../http/stream-chunks.ts";
import { openAIEmbeddingPackKey, packedOpenAIEmbeddingBody, splitOpenAIEmbeddingReply } from "../packing/openai-embeddings.ts";
import { closedError, UpstreamPools } from "../http/upstream-pools.ts";
import { PrefixRouter } from "../http/prefix-router.ts";
import { prefixKeyOf } from "./prefix-key.ts";

const PATHS: Record<CallKind, string> = {
  chat: "/chat/completions",
  completion: "/completions",
  embedding: "/embeddings",
  // Passed through to the upstream's own moderations endpoint (OpenAI's, or a server that has one).
  moderation: "/moderations",
};


/** One upstream URL of a Model. */
interface Upstream {
  dispatcher: Dispatcher;
  /** Upstream base path without trailing slash, e.g. "/v1". */
  basePath: string;
  /** Query string of the baseUrl (e.g. Azure's `?api-version=`), appended to every path. */
  search: string;
  origin: string;
}

/** What is fixed per Model: computed once, not per request. */
interface Route {
  model: OpenAIModelConfig;
  upstreams: Upstream[];
  /** Null with a single URL: nothing to choose. */
  router: PrefixRouter | null;
  headers: Record<string, string>;
  upstreamModel: string;
}

export interface OpenAIEngineOptions {
  /** Engine name in logs and errors. */
  name?: string;
  nowMs?: () => number;
}

export class OpenAIEngine implements Engine {
  readonly name: string;
  readonly dialect = "openai" as const;
  private readonly pools = new UpstreamPools();
  // Keyed by the config object: a reloaded config (new object) gets a fresh route.
  private readonly routes = new WeakMap<OpenAIModelConfig, Route>();
  private readonly nowMs: () => number;
  private closed = false;

  constructor(options: OpenAIEngineOptions = {}) {
    this.name = options.name ?? "openai";
    this.nowMs = options.nowMs ?? Date.now;
  }

  async execute(request: EngineRequest): Promise<EngineReply> {
    if (this.closed) throw closedError();
    const route = this.routeOf(request);
    const chosen = route.router?.route(prefixKeyOf(request.kind, request.body, route.upstreamModel));
    const upstream = route.upstreams[chosen?.index ?? 0]!;
    try {
      const reply = await this.exchange(request, route, upstream);
      chosen?.done("ok");
      return reply;
    } catch (error) {
      chosen?.done(isUpstreamFailure(error) ? "failed" : "other");
      throw error;
    }
  }

  async stream(request: EngineRequest): Promise<EngineStream> {
    if (this.closed) throw closedError();
    if (request.kind !== "chat" && request.kind !== "completion") {
      throw new EngineError({ kind: "unsupported", message: `Only chat and completion replies stream; this is a ${request.kind} request.`, statusCode: 400, retryable: false });
    }
    const route = this.routeOf(request);
    const chosen = route.router?.route(prefixKeyOf(request.kind, request.body, route.upstreamModel));
    const upstream = route.upstreams[chosen?.index ?? 0]!;
    const path = `${upstream.basePath}${PATHS[request.kind]}${upstream.search}`;
    const description = `POST ${upstream.origin}${path} (model '${route.model.name}')`;
    let opened;
    try {
      opened = await postStream({
        dispatcher: upstream.dispatcher,
        path,
        headers: { ...route.headers, accept: "text/event-stream" },
        body: JSON.stringify({ ...request.body, model: route.upstreamModel, stream: true }),
        signal: request.signal,
        description,
        nowMs: this.nowMs,
      });
    } catch (error) {
      chosen?.done(isUpstreamFailure(error) ? "failed" : "other");
      throw this.closed ? closedError() : error;
    }
    const modelName = route.model.name;
    const chunks = jsonChunks(opened.events, {
      description,
      requestId: opened.requestId,
      rewrite: (data) => {
        if (typeof data.model === "string") data.model = modelName;
      },
    });
    const ending = new EndingIterator(chunks, (reason) => {
      opened.close();
      chosen?.done(reason.how === "failed" && isUpstreamFailure(reason.error) ? "failed" : "ok");
      return undefined;
    });
    return { requestId: opened.requestId, chunks: ending };
  }

  async close(): Promise<void> {
    this.closed = true;
    await this.pools.close();
  }

  private async exchange(request: EngineRequest, route: Route, upstream: Upstream): Promise<EngineReply> {
    const path = `${upstream.basePath}${PATHS[request.kind]}${upstream.search}`;
    const reply = await postJson({
      dispatcher: upstream.dispatcher,
      path,
      headers: route.headers,
      body: jsonTextOf(upstreamBody(request, route.upstreamModel)),
      signal: request.signal,
      description: `POST ${upstream.origin}${path} (model '${route.model.name}')`,
      nowMs: this.nowMs,
    }).catch((error: unknown) => {
      // close() destroyed the pool under a running request: a shutdown, not an upstream failure.
      throw this.closed ? closedError() : error;
    });
    // Lenient on purpose: servers differ in what they add or omit, and the body is passed to the client as
    // is. Only "is it an object" is required. (Checked by hand: a schema parse copies the whole reply.)
    if (!isObject(reply.body)) {
      throw new EngineError({
        kind: "http",
        message: `The upstream of model '${route.model.name}' answered ${reply.statusCode} with JSON that is not an object.`,
        statusCode: 502,
        body: { error: { message: "Upstream answered with JSON that is not an object.", type: "upstream_error", param: null, code: "bad_gateway" } },
        retryable: true,
        requestId: reply.requestId,
      });
    }
    const body = withClientModelName(reply.body, "model", route.model.name);
    return { statusCode: 200, body, usage: usageOf(request.kind, body.usage), requestId: reply.requestId };
  }

  /** Single-input embedding bodies with equal options share one `input: [...]` call. */
  packKey(request: PackCandidate): PackKey | null {
    return request.dialect === this.dialect && request.model.engine === "openai" ? openAIEmbeddingPackKey(request.body) : null;
  }

  async executePack(pack: EnginePack): Promise<EngineReply[]> {
    const body = packedOpenAIEmbeddingBody(pack.bodies);
    const reply = await this.execute({ kind: "embedding", dialect: pack.dialect, body, model: pack.model, signal: pack.signal });
    return splitOpenAIEmbeddingReply(reply, pack.bodies);
  }

  private routeOf(request: EngineRequest): Route {
    const model = request.model;
    if (model.engine !== "openai") {
      throw new EngineError({ kind: "unsupported", message: `Engine '${this.name}' cannot serve model '${model.name}' (engine '${model.engine}').`, retryable: false });
    }
    if (request.dialect !== "openai") {
      throw new EngineError({ kind: "unsupported", message: `Engine '${this.name}' takes OpenAI request bodies, got dialect '${request.dialect}'.`, retryable: false });
    }
    let route = this.routes.get(model);
    if (route === undefined) {
      route = this.buildRoute(model);
      this.routes.set(model, route);
    }
    return route;
  }

  private buildRoute(model: OpenAIModelConfig): Route {
    const urls = baseUrlsOf(model);
    const headers: Record<string, string> = {
      "content-type": "application/json",
      accept: "application/json",
      ...lowerCaseKeys(model.headers ?? {}),
    };
    if (model.apiKey) headers.authorization = `Bearer ${model.apiKey}`;
    // Each URL gets the Model's whole concurrency: prefix routing may send every request to one of them.
    const upstreams = urls.map((text): Upstream => {
      const url = new URL(text);
      return {
        dispatcher: this.pools.get({ key: model.name, origin: url.origin, connections: model.concurrency }),
        basePath: url.pathname.replace(/\/+$/, ""),
        search: url.search,
        origin: url.origin,
      };
    });
    const router = urls.length > 1 ? new PrefixRouter({ urls, policy: model.baseUrlRouting, nowMs: this.nowMs }) : null;
    return { model, upstreams, router, headers, upstreamModel: model.upstreamModel ?? model.name };
  }
}

/** `baseUrl` first, then `baseUrls`, without repeats (the config requires at least one). */
function baseUrlsOf(model: OpenAIModelConfig): string[] {
  return [...new Set([...(model.baseUrl === undefined ? [] : [model.baseUrl]), ...(model.baseUrls ?? [])])];
}

/** What makes a URL worth skipping for a while: it could not be reached, or it failed on its side. */
function isUpstreamFailure(error: unknown): boolean {
  return error instanceof EngineError && (error.kind === "network" || (error.kind === "http" && (error.statusCode ?? 0) >= 500));
}

/**
 * The client's body with the upstream model name. Streaming is switched off only where the client asked
 * for it: OpenAI rejects parameters an endpoint does not know (`stream` on embeddings), and
 * `stream_options` without streaming.
 */
/**
 * The body as the upstream gets it: the request's own object when nothing changes (its model already the
 * upstream's name, nothing to stop streaming), so a sync request's bytes go up as the client sent them
 * (jsonTextOf) instead of being serialised again; a copy otherwise (a parsed body is never mutated).
 */
function upstreamBody(request: EngineRequest, upstreamModel: string): Record<string, unknown> {
  const streamed = (request.kind === "chat" || request.kind === "completion") && request.body.stream !== undefined;
  if (request.body.model === upstreamModel && !streamed) return request.body;
  const body: Record<string, unknown> = { ...request.body, model: upstreamModel };
  if (streamed) {
    body.stream = false;
    delete body.stream_options;
  }
  return body;
}

/** Usage counts, read when they are numbers (0 otherwise). */
function usageOf(kind: CallKind, usage: unknown): TokenUsage {
  if (!isObject(usage)) return { inputTokens: 0, outputTokens: 0 };
  const counted: TokenUsage = { inputTokens: tokenCount(usage.prompt_tokens), outputTokens: kind === "embedding" ? 0 : tokenCount(usage.completion_tokens) };
  // vLLM and SGLang report prefix-cache hits here, as OpenAI does.
  const details = usage.prompt_tokens_details;
  if (isObject(details) && typeof details.cached_tokens === "number") counted.cachedInputTokens = tokenCount(details.cached_tokens);
  return counted;
}

// At module level, not inside usageOf: no closure per reply (under tsx's keepNames each one also cost an
// Object.defineProperty, 0.6% of the Batch hot path; spool's own loader no longer names closures, decision 0033).
function tokenCount(value: unknown): number {
  return typeof value === "number" && Number.isFinite(value) ? value : 0;
}

function lowerCaseKeys(headers: Record<string, string>): Record<string, string> {
  return Object.fromEntries(Object.entries(headers).map(([name, value]) => [name.toLowerCase(), value]));
}
