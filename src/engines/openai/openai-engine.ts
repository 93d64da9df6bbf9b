/**
 * The `openai` Engine serves every OpenAI-compatible server (OpenAI, vLLM, llama.cpp's llama-server, LiteLLM,
 * Ollama's /v1, ...). Native dialect "openai": the request body is forwarded as the client wrote it, apart
 * from `model` (the Model's `upstreamModel`, else its name) and streaming (a Batch Item has nobody to
 * stream to), so parameters spool does not know still reach the upstream.
 *
 * Retries, concurrency and the per-attempt timeout belong to the Dispatcher; this adapter makes one HTTP
 * exchange and says, through EngineError, whether another is worth it.
 */
import type { Dispatcher } from "undici";
import { z } from "zod";
import type { OpenAIModelConfig } from "../../config/config.ts";
import type { RequestKind, TokenUsage } from "../../core/types.ts";
import { EngineError, type Engine, type EnginePack, type EngineReply, type EngineRequest, type PackCandidate, type PackKey } from "../../core/engine.ts";
import { postJson } from "../http/post-json.ts";
import { openAIEmbeddingPackKey, packedOpenAIEmbeddingBody, splitOpenAIEmbeddingReply } from "../packing/openai-embeddings.ts";
import { closedError, UpstreamPools } from "../http/upstream-pools.ts";

const PATHS: Record<RequestKind, string> = {
  chat: "/chat/completions",
  completion: "/completions",
  embedding: "/embeddings",
};

/**
 * Lenient on purpose: servers differ in what they add or omit, and the body is passed to the client as
 * is. Only "is it an object" is required; usage counts are read when they are numbers.
 */
const replySchema = z.looseObject({
  usage: z
    .looseObject({
      prompt_tokens: z.number().catch(0).optional(),
      completion_tokens: z.number().catch(0).optional(),
    })
    .nullish()
    .catch(null),
});

/** What is fixed per Model: computed once, not per request. */
interface Route {
  model: OpenAIModelConfig;
  dispatcher: Dispatcher;
  /** Upstream base path without trailing slash, e.g. "/v1". */
  basePath: string;
  /** Query string of the baseUrl (e.g. Azure's `?api-version=`), appended to every path. */
  search: string;
  origin: string;
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
    const path = `${route.basePath}${PATHS[request.kind]}${route.search}`;
    const reply = await postJson({
      dispatcher: route.dispatcher,
      path,
      headers: route.headers,
      body: JSON.stringify(upstreamBody(request, route.upstreamModel)),
      signal: request.signal,
      description: `POST ${route.origin}${path} (model '${route.model.name}')`,
      nowMs: this.nowMs,
    }).catch((error: unknown) => {
      // close() destroyed the pool under a running request: a shutdown, not an upstream failure.
      throw this.closed ? closedError() : error;
    });
    const parsed = replySchema.safeParse(reply.body);
    if (!parsed.success) {
      throw new EngineError({
        kind: "http",
        message: `The upstream of model '${route.model.name}' answered ${reply.statusCode} with JSON that is not an object.`,
        statusCode: 502,
        body: { error: { message: "Upstream answered with JSON that is not an object.", type: "upstream_error", param: null, code: "bad_gateway" } },
        retryable: true,
        requestId: reply.requestId,
      });
    }
    return { statusCode: 200, body: reply.body, usage: usageOf(request.kind, parsed.data.usage), requestId: reply.requestId };
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

  async close(): Promise<void> {
    this.closed = true;
    await this.pools.close();
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
    const url = new URL(model.baseUrl);
    const headers: Record<string, string> = {
      "content-type": "application/json",
      accept: "application/json",
      ...lowerCaseKeys(model.headers ?? {}),
    };
    if (model.apiKey) headers.authorization = `Bearer ${model.apiKey}`;
    return {
      model,
      dispatcher: this.pools.get({ key: model.name, origin: url.origin, connections: model.concurrency }),
      basePath: url.pathname.replace(/\/+$/, ""),
      search: url.search,
      origin: url.origin,
      headers,
      upstreamModel: model.upstreamModel ?? model.name,
    };
  }
}

/**
 * The client's body with the upstream model name. Streaming is switched off only where the client asked
 * for it: OpenAI rejects parameters an endpoint does not know (`stream` on embeddings), and
 * `stream_options` without streaming.
 */
function upstreamBody(request: EngineRequest, upstreamModel: string): Record<string, unknown> {
  const body: Record<string, unknown> = { ...request.body, model: upstreamModel };
  if (request.kind !== "embedding" && body.stream !== undefined) {
    body.stream = false;
    delete body.stream_options;
  }
  return body;
}

function usageOf(kind: RequestKind, usage: z.infer<typeof replySchema>["usage"]): TokenUsage {
  const inputTokens = usage?.prompt_tokens ?? 0;
  return { inputTokens, outputTokens: kind === "embedding" ? 0 : (usage?.completion_tokens ?? 0) };
}

function lowerCaseKeys(headers: Record<string, string>): Record<string, string> {
  return Object.fromEntries(Object.entries(headers).map(([name, value]) => [name.toLowerCase(), value]));
}
