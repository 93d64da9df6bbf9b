/**
 * The `gemini` Engine: Google's Gemini Developer API (or anything speaking it, such as a loopback fake).
 * Native dialect "gemini": GenerateContentRequest bodies go to `models/{m}:generateContent`,
 * EmbedContentRequest bodies to `:embedContent`, and BatchEmbedContentsRequest bodies (`{requests: [...]}`,
 * what an OpenAI embedding call with several inputs translates to, and what a pack of single embedding
 * requests becomes) to `:batchEmbedContents`. The body is
 * forwarded as the client wrote it apart from the per-line `model`, which the URL carries.
 *
 * Streaming (`stream`): chat requests go to `:streamGenerateContent?alt=sse`, whose events are
 * GenerateContentResponse objects, passed on as they arrive. Replies, streamed or not, carry the client's Model
 * name as `modelVersion` (not `upstreamModel`, spool's own configuration).
 *
 * Media references (`fileReference`): a File spool holds is uploaded to the upstream's Files API once and
 * named by its URI in every request that refers to it (gemini-uploads.ts).
 *
 * Retry decisions follow Google's conventions on top of the shared HTTP ones: 408, 429 and 5xx (and the
 * RESOURCE_EXHAUSTED / UNAVAILABLE / DEADLINE_EXCEEDED statuses) are retryable; 409 is not (Google uses
 * it for ALREADY_EXISTS as well as ABORTED, and generateContent has no conflicts to wait out). The server's
 * delay comes from `Retry-After`, else from a `google.rpc.RetryInfo` detail (`"retryDelay": "12s"`), which
 * is how the hosted API says when a quota refills.
 */
import type { Dispatcher } from "undici";
import { z } from "zod";
import type { GeminiModelConfig } from "../../config/config.ts";
import type { CallKind, TokenUsage } from "../../core/types.ts";
import { EngineError, type Engine, type EnginePack, type EngineReply, type EngineRequest, type EngineStream, type PackCandidate, type PackKey } from "../../core/engine.ts";
import { EndingIterator } from "../../core/ending-iterator.ts";
import { isObject } from "../../core/json.ts";
import { withClientModelName } from "../http/client-model-name.ts";
import { postJson } from "../http/post-json.ts";
import { postStream } from "../http/post-stream.ts";
import { jsonChunks } from "../http/stream-chunks.ts";
import { geminiEmbeddingPackKey, packedGeminiEmbeddingBody, splitGeminiEmbeddingReply } from "../packing/gemini-embeddings.ts";
import { UpstreamPools } from "../http/upstream-pools.ts";
import type { MediaFile } from "../../core/media.ts";
import type { Readable } from "node:stream";
import { GeminiUploads } from "./gemini-uploads.ts";

export const GEMINI_DEFAULT_BASE_URL = "https://generativelanguage.googleapis.com";
const API_VERSION = "v1beta";

/** Lenient: Google omits zero counts, and the body goes to the client as is. */
const count = z.number().catch(0).optional();
const replySchema = z.looseObject({
  responseId: z.string().optional().catch(undefined),
  usageMetadata: z
    .looseObject({ promptTokenCount: count, candidatesTokenCount: count, thoughtsTokenCount: count, toolUsePromptTokenCount: count, cachedContentTokenCount: count })
    .optional()
    .catch(undefined),
});
type GeminiReply = z.infer<typeof replySchema>;

interface Route {
  model: GeminiModelConfig;
  dispatcher: Dispatcher;
  /** Path prefix of the baseUrl without trailing slash ("" for the hosted API). */
  basePath: string;
  origin: string;
  headers: Record<string, string>;
  /** `models/<name>` (or `tunedModels/<name>`), as it appears in URLs and batch embed requests. */
  resource: string;
}

export interface GeminiEngineOptions {
  /** Engine name in logs and errors. */
  name?: string;
  nowMs?: () => number;
}

export class GeminiEngine implements Engine {
  readonly name: string;
  readonly dialect = "gemini" as const;
  private readonly pools = new UpstreamPools();
  // Keyed by the config object: a reloaded config (new object) gets a fresh route.
  private readonly routes = new WeakMap<GeminiModelConfig, Route>();
  private readonly nowMs: () => number;
  /** Files uploaded to each upstream's Files API, reused while they live there. */
  readonly uploads: GeminiUploads;

  constructor(options: GeminiEngineOptions = {}) {
    this.name = options.name ?? "gemini";
    this.nowMs = options.nowMs ?? Date.now;
    this.uploads = new GeminiUploads(this.nowMs);
  }

  async fileReference(file: MediaFile, open: () => Promise<Readable>, request: EngineRequest): Promise<string> {
    const route = this.routeOf(request);
    const apiKey = route.model.apiKey;
    return this.uploads.reference({ dispatcher: route.dispatcher, origin: route.origin, basePath: route.basePath, apiKey, timeoutMs: route.model.timeoutMs }, file, open, request.signal);
  }

  async execute(request: EngineRequest): Promise<EngineReply> {
    const route = this.routeOf(request);
    const call = upstreamCall(request.kind, request.body, route);
    const path = `${route.basePath}/${API_VERSION}/${route.resource}:${call.method}`;
    const description = `POST ${route.origin}${path} (model '${route.model.name}')`;
    let reply;
    try {
      reply = await postJson({
        dispatcher: route.dispatcher,
        path,
        headers: route.headers,
        body: JSON.stringify(call.body),
        signal: request.signal,
        // The Dispatcher's signal carries the attempt timeout too; this one keeps the Engine bounded when
        // it is called directly (tests, tools) and fires at the same moment otherwise.
        timeoutMs: route.model.timeoutMs,
        description,
        nowMs: this.nowMs,
      });
    } catch (error) {
      throw withGoogleRetryDecision(error);
    }
    const parsed = replySchema.safeParse(reply.body);
    if (!parsed.success) {
      throw new EngineError({
        kind: "http",
        message: `${description} answered ${reply.statusCode} with JSON that is not an object.`,
        statusCode: 502,
        body: upstreamErrorBody(502, "UNAVAILABLE", "Upstream answered with JSON that is not an object."),
        retryable: true,
        requestId: reply.requestId,
      });
    }
    const body = isObject(reply.body) ? withClientModelName(reply.body, "modelVersion", route.model.name) : reply.body;
    return { statusCode: 200, body, usage: usageOf(parsed.data), requestId: reply.requestId ?? parsed.data.responseId ?? null };
  }

  async stream(request: EngineRequest): Promise<EngineStream> {
    const route = this.routeOf(request);
    const call = upstreamCall(request.kind, request.body, route);
    if (call.method !== "generateContent") {
      throw new EngineError({ kind: "unsupported", message: `Only generateContent replies stream; this is a ${request.kind} request.`, statusCode: 400, retryable: false });
    }
    const path = `${route.basePath}/${API_VERSION}/${route.resource}:streamGenerateContent`;
    const description = `POST ${route.origin}${path} (model '${route.model.name}')`;
    let opened;
    try {
      opened = await postStream({
        dispatcher: route.dispatcher,
        path: `${path}?alt=sse`,
        headers: { ...route.headers, accept: "text/event-stream" },
        body: JSON.stringify(call.body),
        signal: request.signal,
        timeoutMs: route.model.timeoutMs,
        description,
        nowMs: this.nowMs,
      });
    } catch (error) {
      throw withGoogleRetryDecision(error);
    }
    const modelName = route.model.name;
    const chunks = jsonChunks(opened.events, {
      description,
      requestId: opened.requestId,
      rewrite: (data) => {
        if (typeof data.modelVersion === "string") data.modelVersion = modelName;
      },
    });
    return { requestId: opened.requestId, chunks: new EndingIterator(chunks, () => opened.close()) };
  }

  /** Single embedContent bodies share one batchEmbedContents call, whatever their options. */
  packKey(request: PackCandidate): PackKey | null {
    return request.dialect === this.dialect && request.model.engine === "gemini" ? geminiEmbeddingPackKey(request.body) : null;
  }

  async executePack(pack: EnginePack): Promise<EngineReply[]> {
    const reply = await this.execute({ kind: "embedding", dialect: pack.dialect, body: packedGeminiEmbeddingBody(pack.bodies), model: pack.model, signal: pack.signal });
    return splitGeminiEmbeddingReply(reply, pack.bodies);
  }

  async close(): Promise<void> {
    await this.pools.close();
  }

  private routeOf(request: EngineRequest): Route {
    const model = request.model;
    if (model.engine !== "gemini") {
      throw new EngineError({ kind: "unsupported", message: `Engine '${this.name}' cannot serve model '${model.name}' (engine '${model.engine}').`, retryable: false });
    }
    if (request.dialect !== "gemini") {
      throw new EngineError({ kind: "unsupported", message: `Engine '${this.name}' takes Gemini request bodies, got dialect '${request.dialect}'.`, retryable: false });
    }
    let route = this.routes.get(model);
    if (route === undefined) {
      route = this.buildRoute(model);
      this.routes.set(model, route);
    }
    return route;
  }

  private buildRoute(model: GeminiModelConfig): Route {
    const url = new URL(model.baseUrl ?? GEMINI_DEFAULT_BASE_URL);
    const headers: Record<string, string> = { "content-type": "application/json", accept: "application/json" };
    if (model.apiKey) headers["x-goog-api-key"] = model.apiKey;
    const name = model.upstreamModel ?? model.name;
    return {
      model,
      dispatcher: this.pools.get({ key: model.name, origin: url.origin, connections: model.concurrency }),
      basePath: url.pathname.replace(/\/+$/, ""),
      origin: url.origin,
      headers,
      // The SDK's rule: names already naming a resource are used as they are.
      resource: /^(models|tunedModels)\//.test(name) ? name : `models/${name}`,
    };
  }
}

function upstreamCall(kind: CallKind, body: Record<string, unknown>, route: Route): { method: string; body: Record<string, unknown> } {
  const { model: _model, ...rest } = body;
  if (kind === "chat") return { method: "generateContent", body: rest };
  if (kind === "embedding") {
    if (!Array.isArray(rest.requests)) return { method: "embedContent", body: rest };
    // Google requires every inner request to name the model of the URL.
    const requests = rest.requests.map((inner: unknown) => (typeof inner === "object" && inner !== null ? { ...inner, model: route.resource } : inner));
    return { method: "batchEmbedContents", body: { ...rest, requests } };
  }
  const message =
    kind === "moderation"
      ? `Model '${route.model.name}' is a Gemini model, which has no moderations endpoint; moderations run on an openai engine whose upstream serves them.`
      : `Model '${route.model.name}' is a Gemini model, which has no legacy text-completion endpoint; use chat completions.`;
  throw new EngineError({ kind: "unsupported", message, statusCode: 400, body: upstreamErrorBody(400, "INVALID_ARGUMENT", message), retryable: false });
}

/** An error body as the Gemini API itself would send it (this Engine's native wire). */
function upstreamErrorBody(code: number, status: string, message: string): Record<string, unknown> {
  return { error: { code, message, status } };
}

/** Gemini counts thoughts and tool-use prompts apart; spool's usage is input vs everything generated. */
function usageOf(reply: GeminiReply): TokenUsage {
  const usage = reply.usageMetadata;
  return {
    inputTokens: (usage?.promptTokenCount ?? 0) + (usage?.toolUsePromptTokenCount ?? 0),
    outputTokens: (usage?.candidatesTokenCount ?? 0) + (usage?.thoughtsTokenCount ?? 0),
    cachedInputTokens: usage?.cachedContentTokenCount ?? 0,
  };
}

const RETRYABLE_STATUSES = new Set(["RESOURCE_EXHAUSTED", "UNAVAILABLE", "DEADLINE_EXCEEDED"]);

/** The shared HTTP decision, corrected by what Google's error envelope says. */
function withGoogleRetryDecision(error: unknown): unknown {
  if (!(error instanceof EngineError) || error.kind !== "http" || error.statusCode === null) return error;
  const envelope = asRecord(asRecord(error.body)?.error);
  const status = typeof envelope?.status === "string" ? envelope.status : undefined;
  const statusCode = error.statusCode;
  const retryable = statusCode === 408 || statusCode === 429 || statusCode >= 500 || (status !== undefined && RETRYABLE_STATUSES.has(status));
  const retryAfterMs = error.retryAfterMs ?? retryInfoDelayMs(envelope?.details);
  if (retryable === error.retryable && retryAfterMs === error.retryAfterMs) return error;
  return new EngineError({
    kind: error.kind,
    message: error.message,
    statusCode,
    body: error.body,
    retryable,
    retryAfterMs,
    requestId: error.requestId,
    cause: error.cause,
  });
}

const DURATION = /^\s*(\d+(?:\.\d+)?)s\s*$/;

/** `google.rpc.RetryInfo.retryDelay` (a protobuf Duration in JSON: "12s", "0.5s") in ms; null when absent. */
export function retryInfoDelayMs(details: unknown): number | null {
  if (!Array.isArray(details)) return null;
  for (const detail of details) {
    const record = asRecord(detail);
    if (record?.["@type"] !== "type.googleapis.com/google.rpc.RetryInfo") continue;
    const match = typeof record.retryDelay === "string" ? DURATION.exec(record.retryDelay) : null;
    if (match?.[1] !== undefined) return Math.round(Number(match[1]) * 1000);
  }
  return null;
}

function asRecord(value: unknown): Record<string, unknown> | undefined {
  return typeof value === "object" && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>) : undefined;
}
