/**
 * An in-process Gemini Developer API server (node:http on 127.0.0.1, a free port) standing in for
 * generativelanguage.googleapis.com in tests. It answers `POST /v1beta/models/{m}:generateContent`,
 * `:embedContent` and `:batchEmbedContents` with bodies shaped like the real service's
 * (GenerateContentResponse with usageMetadata, responseId, modelVersion; `{embedding: {values}}`),
 * deterministically: generateContent answers `echo: <last user text>` (or `{"echo": "<text>"}` when
 * `responseMimeType` is application/json); vectors derive from the text and honour outputDimensionality.
 *
 * `:streamGenerateContent` answers the same reply in pieces of four characters (Server-Sent Events with
 * `alt=sse`, else a JSON array), the last piece with finishReason and usageMetadata, as Gemini streams.
 *
 * Files API: resumable uploads (`POST /upload/v1beta/files` start, then `upload, finalize` to the URL it
 * gives) and `GET /v1beta/files/{id}`, as the genai SDK and spool's gemini Engine use them; `files` holds
 * what was uploaded, by URI, so a test can check that a request's `fileData.fileUri` names the right bytes.
 *
 * Faults, chosen per request through `setFault`: a status with a Google error envelope (429
 * RESOURCE_EXHAUSTED with Retry-After and/or a google.rpc.RetryInfo detail, 5xx, 4xx), a reset
 * connection, a delay or no answer, and the two empty 200s Gemini really sends: a candidate that spent
 * every token on thoughts (finishReason MAX_TOKENS, content without parts) and a blocked prompt
 * (promptFeedback.blockReason, no candidates).
 */
import http from "node:http";
import type { AddressInfo } from "node:net";
import { embeddingOf } from "./fake-openai-upstream.ts";

export interface FakeGeminiUpstreamOptions {
  /** When set, requests must send `x-goog-api-key: <apiKey>` (or `?key=`), else 400 API_KEY_INVALID. */
  apiKey?: string;
  /** Embedding length when the request has no outputDimensionality. Default 8. */
  embeddingDimensions?: number;
  /** thoughtsTokenCount reported on every generateContent answer (0: omitted, as Google does). */
  thoughtsTokenCount?: number;
}

export type FakeGeminiMethod = "generateContent" | "streamGenerateContent" | "embedContent" | "batchEmbedContents";

/**
 * What to do with one request. Applied in this order: wait `delayMs`; then `hang`, `reset`, `status`
 * (answered with `body`, or a Google envelope fitting the status, plus `retryAfter` header and
 * `retryDelay` RetryInfo detail), `emptyCandidate`, `blockReason`; otherwise a normal answer.
 */
export interface FakeGeminiFault {
  status?: number;
  body?: unknown;
  /** `Retry-After` header value. */
  retryAfter?: string;
  /** `google.rpc.RetryInfo.retryDelay` in the error details, e.g. "12s". */
  retryDelay?: string;
  headers?: Record<string, string>;
  reset?: boolean;
  hang?: boolean;
  delayMs?: number;
  /** 200 with one candidate `{content: {role: "model"}, finishReason: "MAX_TOKENS"}` (thinking ate the budget). */
  emptyCandidate?: boolean;
  /** 200 with `promptFeedback.blockReason` set to this and no candidates. */
  blockReason?: string;
}

export interface FakeGeminiFaultContext {
  /** The last user text (generateContent) or the embedded texts joined by "\n". */
  key: string;
  method: FakeGeminiMethod;
  /** Model name from the URL, without `models/`. */
  model: string;
  body: Record<string, unknown>;
  headers: http.IncomingHttpHeaders;
  /** 1 for the first request with this key, 2 for the second, ... */
  attemptForKey: number;
  /** 1-based number of this request among all the server received. */
  n: number;
}

export type FakeGeminiFaultRule = (context: FakeGeminiFaultContext) => FakeGeminiFault | undefined;

export interface ReceivedGeminiRequest {
  method: FakeGeminiMethod;
  path: string;
  model: string;
  headers: http.IncomingHttpHeaders;
  body: Record<string, unknown>;
}

export interface FakeGeminiFile {
  name: string;
  mimeType: string;
  bytes: Buffer;
}

export interface FakeGeminiUpstream {
  /** For Model configs: `http://127.0.0.1:<port>` (the engine appends `/v1beta/...`). */
  readonly baseUrl: string;
  /** Requests received (any path), since start. */
  readonly requests: number;
  /** Inference requests per key (see FakeGeminiFaultContext.key). */
  readonly countsByKey: Map<string, number>;
  /** Every inference request, in arrival order. */
  readonly received: ReceivedGeminiRequest[];
  readonly lastRequest: ReceivedGeminiRequest | null;
  setFault(rule: FakeGeminiFaultRule | null): void;
  /** Files uploaded through the Files API, by their `uri`. */
  readonly files: Map<string, FakeGeminiFile>;
  /** Stops listening and destroys open sockets (hung and keep-alive ones), so tests never hang. */
  close(): Promise<void>;
}

const ROUTE = /^(?:\/[^:]*)?\/v\w+\/(?:models|tunedModels)\/(.+):(generateContent|streamGenerateContent|embedContent|batchEmbedContents)$/;

const STATUS_NAMES: Record<number, string> = {
  400: "INVALID_ARGUMENT",
  401: "UNAUTHENTICATED",
  403: "PERMISSION_DENIED",
  404: "NOT_FOUND",
  429: "RESOURCE_EXHAUSTED",
  500: "INTERNAL",
  503: "UNAVAILABLE",
  504: "DEADLINE_EXCEEDED",
};

export async function startFakeGeminiUpstream(options: FakeGeminiUpstreamOptions = {}): Promise<FakeGeminiUpstream> {
  let fault: FakeGeminiFaultRule | null = null;
  const state = { requests: 0, lastRequest: null as ReceivedGeminiRequest | null };
  const countsByKey = new Map<string, number>();
  const received: ReceivedGeminiRequest[] = [];
  const files = new Map<string, FakeGeminiFile>();
  const sessions = new Map<string, { mimeType: string }>();
  let origin = "";

  const server = http.createServer((req, res) => {
    state.requests += 1;
    const n = state.requests;
    const url = new URL(req.url ?? "/", "http://fake");
    const match = req.method === "POST" ? ROUTE.exec(url.pathname) : null;
    const chunks: Buffer[] = [];
    req.on("data", (chunk: Buffer) => chunks.push(chunk));
    req.on("end", () => {
      if (url.pathname.endsWith("/upload/v1beta/files") || url.pathname.startsWith("/v1beta/files/")) {
        filesApi(req, res, url, Buffer.concat(chunks), { files, sessions, origin, n });
        return;
      }
      const text = Buffer.concat(chunks).toString("utf8");
      if (options.apiKey !== undefined && (req.headers["x-goog-api-key"] ?? url.searchParams.get("key")) !== options.apiKey) {
        sendJson(res, 400, googleError(400, "API key not valid. Please pass a valid API key.", [{ "@type": "type.googleapis.com/google.rpc.ErrorInfo", reason: "API_KEY_INVALID", domain: "googleapis.com" }]));
        return;
      }
      if (match === null) {
        sendJson(res, 404, googleError(404, `Unknown path ${req.method} ${url.pathname}.`));
        return;
      }
      const model = match[1] ?? "";
      const method = match[2] as FakeGeminiMethod;
      let body: Record<string, unknown>;
      try {
        const parsed: unknown = JSON.parse(text);
        if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) throw new Error("not an object");
        body = parsed as Record<string, unknown>;
      } catch {
        sendJson(res, 400, googleError(400, "Invalid JSON payload received."));
        return;
      }
      const request: ReceivedGeminiRequest = { method, path: url.pathname, model, headers: req.headers, body };
      received.push(request);
      state.lastRequest = request;
      const key = keyOf(method, body);
      const attemptForKey = (countsByKey.get(key) ?? 0) + 1;
      countsByKey.set(key, attemptForKey);
      const chosen = fault?.({ key, method, model, body, headers: req.headers, attemptForKey, n });
      const answer = (): void => respond(res, { method, model, body, n, fault: chosen, options, sse: url.searchParams.get("alt") === "sse" });
      if (chosen?.delayMs) setTimeout(answer, chosen.delayMs).unref();
      else answer();
    });
  });
  server.keepAliveTimeout = 30_000;

  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  origin = `http://127.0.0.1:${port}`;

  return {
    baseUrl: `http://127.0.0.1:${port}`,
    files,
    get requests() {
      return state.requests;
    },
    countsByKey,
    received,
    get lastRequest() {
      return state.lastRequest;
    },
    setFault(rule) {
      fault = rule;
    },
    close() {
      return new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
    },
  };
}

/** The Files API's resumable upload and get, enough for the genai SDK and spool's gemini Engine. */
function filesApi(req: http.IncomingMessage, res: http.ServerResponse, url: URL, body: Buffer, state: { files: Map<string, FakeGeminiFile>; sessions: Map<string, { mimeType: string }>; origin: string; n: number }): void {
  const header = (name: string): string => String(req.headers[name] ?? "");
  const resource = (file: FakeGeminiFile, uri: string): Record<string, unknown> => ({
    name: file.name, mimeType: file.mimeType, sizeBytes: String(file.bytes.length), uri, state: "ACTIVE",
    expirationTime: new Date(Date.now() + 48 * 3600 * 1000).toISOString(),
  });
  if (req.method === "GET") {
    const uri = `${state.origin}${url.pathname}`;
    const file = state.files.get(uri);
    if (file === undefined) sendJson(res, 404, googleError(404, `File ${url.pathname} not found.`));
    else sendJson(res, 200, resource(file, uri));
    return;
  }
  const uploadId = url.searchParams.get("upload_id");
  if (uploadId === null) {
    if (header("x-goog-upload-command") !== "start") {
      sendJson(res, 400, googleError(400, "Only resumable uploads are supported here."));
      return;
    }
    const id = `up${state.n}`;
    state.sessions.set(id, { mimeType: header("x-goog-upload-header-content-type") || "application/octet-stream" });
    res.writeHead(200, { "x-goog-upload-url": `${state.origin}/upload/v1beta/files?upload_id=${id}`, "x-goog-upload-status": "active", "content-type": "application/json" });
    res.end("{}");
    return;
  }
  const session = state.sessions.get(uploadId);
  if (session === undefined || !header("x-goog-upload-command").includes("finalize")) {
    sendJson(res, 400, googleError(400, "Unknown upload, or not finalized in one request."));
    return;
  }
  state.sessions.delete(uploadId);
  const name = `files/${uploadId}`;
  const uri = `${state.origin}/v1beta/${name}`;
  const file = { name, mimeType: session.mimeType, bytes: body };
  state.files.set(uri, file);
  sendJson(res, 200, { file: resource(file, uri) });
}

interface Exchange {
  method: FakeGeminiMethod;
  model: string;
  body: Record<string, unknown>;
  n: number;
  fault: FakeGeminiFault | undefined;
  options: FakeGeminiUpstreamOptions;
  sse: boolean;
}

function respond(res: http.ServerResponse, exchange: Exchange): void {
  const { fault } = exchange;
  if (res.destroyed || fault?.hang) return;
  if (fault?.reset) {
    res.socket?.destroy();
    return;
  }
  if (fault?.status !== undefined) {
    const headers: Record<string, string> = { ...fault.headers };
    if (fault.retryAfter !== undefined) headers["retry-after"] = fault.retryAfter;
    const details = fault.retryDelay === undefined ? undefined : [{ "@type": "type.googleapis.com/google.rpc.RetryInfo", retryDelay: fault.retryDelay }];
    sendJson(res, fault.status, fault.body ?? googleError(fault.status, defaultMessage(fault.status), details), headers);
    return;
  }
  if (exchange.method === "generateContent" || exchange.method === "streamGenerateContent") {
    const problem = Array.isArray(field(exchange.body, "contents")) ? null : "contents is required";
    if (problem) sendJson(res, 400, googleError(400, `* GenerateContentRequest.${problem}`));
    else if (exchange.method === "streamGenerateContent") streamReply(res, generateReply(exchange) as Record<string, unknown>, exchange.sse);
    else sendJson(res, 200, generateReply(exchange));
    return;
  }
  sendJson(res, 200, embedReply(exchange));
}

function generateReply({ model, body, n, fault, options }: Exchange): unknown {
  const contents = asArray(field(body, "contents"));
  const promptTokenCount = contents.reduce<number>((sum, content) => sum + tokenCount(textOf(content)), 0) + tokenCount(textOf(field(body, "systemInstruction")));
  const base = { modelVersion: model, responseId: `fake-gemini-${n.toString(36)}` };
  if (fault?.blockReason !== undefined) {
    return { promptFeedback: { blockReason: fault.blockReason }, usageMetadata: { promptTokenCount, totalTokenCount: promptTokenCount }, ...base };
  }
  const thoughts = options.thoughtsTokenCount ?? 0;
  if (fault?.emptyCandidate) {
    const spent = thoughts || 64;
    return {
      candidates: [{ content: { role: "model" }, finishReason: "MAX_TOKENS", index: 0 }],
      usageMetadata: { promptTokenCount, thoughtsTokenCount: spent, totalTokenCount: promptTokenCount + spent },
      ...base,
    };
  }
  const config = asObject(field(body, "generationConfig"));
  const userText = lastUserText(contents);
  const json = String(field(config, "responseMimeType") ?? "").toLowerCase() === "application/json";
  const text = json ? JSON.stringify({ echo: userText }) : `echo: ${userText}`;
  const count = Math.max(1, Number(field(config, "candidateCount") ?? 1));
  const candidates = Array.from({ length: count }, (_, index) => ({ content: { role: "model", parts: [{ text }] }, finishReason: "STOP", index }));
  const candidatesTokenCount = tokenCount(text) * count;
  return {
    candidates,
    usageMetadata: {
      promptTokenCount,
      candidatesTokenCount,
      totalTokenCount: promptTokenCount + candidatesTokenCount + thoughts,
      ...(thoughts > 0 ? { thoughtsTokenCount: thoughts } : {}),
      promptTokensDetails: [{ modality: "TEXT", tokenCount: promptTokenCount }],
    },
    ...base,
  };
}

/** The reply in four-character pieces: every piece a GenerateContentResponse, the last with finish and usage. */
function streamReply(res: http.ServerResponse, reply: Record<string, unknown>, sse: boolean): void {
  const candidate = asObject(asArray(reply.candidates)[0]);
  const text = textOf(candidate?.content);
  const base = { modelVersion: reply.modelVersion, responseId: reply.responseId };
  const pieces: Record<string, unknown>[] = [];
  for (let at = 0; at < text.length; at += 4) pieces.push({ candidates: [{ content: { role: "model", parts: [{ text: text.slice(at, at + 4) }] }, index: 0 }], ...base });
  if (candidate === undefined) pieces.push(reply);
  else pieces.push({ candidates: [{ content: { role: "model", parts: [] }, finishReason: candidate.finishReason, index: 0 }], usageMetadata: reply.usageMetadata, ...base });
  res.writeHead(200, { "content-type": sse ? "text/event-stream" : "application/json; charset=UTF-8" });
  if (sse) for (const piece of pieces) res.write(`data: ${JSON.stringify(piece)}\r\n\r\n`);
  else res.write(`[${pieces.map((piece) => JSON.stringify(piece)).join(",\r\n")}]`);
  res.end();
}

function embedReply({ method, body, options }: Exchange): unknown {
  const vector = (request: unknown): { values: number[] } => {
    const size = Number(field(asObject(request), "outputDimensionality") ?? options.embeddingDimensions ?? 8);
    return { values: embeddingOf(textOf(field(asObject(request), "content")), size) };
  };
  if (method === "batchEmbedContents") return { embeddings: asArray(body.requests).map(vector) };
  return { embedding: vector(body) };
}

function keyOf(method: FakeGeminiMethod, body: Record<string, unknown>): string {
  if (method === "generateContent" || method === "streamGenerateContent") return lastUserText(asArray(field(body, "contents")));
  if (method === "batchEmbedContents") return asArray(body.requests).map((request) => textOf(field(asObject(request), "content"))).join("\n");
  return textOf(field(body, "content"));
}

function lastUserText(contents: unknown[]): string {
  const user = [...contents].reverse().find((content) => (asObject(content)?.role ?? "user") === "user");
  return textOf(user);
}

/** The text parts of a Content (or a bare string), joined. */
function textOf(content: unknown): string {
  if (typeof content === "string") return content;
  return asArray(asObject(content)?.parts)
    .map((part) => (typeof asObject(part)?.text === "string" ? String(asObject(part)?.text) : ""))
    .join("");
}

function tokenCount(text: string): number {
  return Math.ceil(text.length / 4);
}

function googleError(code: number, message: string, details?: unknown[]): unknown {
  return { error: { code, message, status: STATUS_NAMES[code] ?? (code >= 500 ? "INTERNAL" : "FAILED_PRECONDITION"), ...(details ? { details } : {}) } };
}

function defaultMessage(status: number): string {
  if (status === 429) return "Resource has been exhausted (e.g. check quota).";
  if (status === 503) return "The model is overloaded. Please try again later.";
  if (status >= 500) return "An internal error has occurred. Please retry or report in https://developers.generativeai.google/guide/troubleshooting";
  return `Request rejected with status ${status}.`;
}

function sendJson(res: http.ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  if (res.destroyed) return;
  const json = JSON.stringify(body);
  res.writeHead(status, { "content-type": "application/json; charset=UTF-8", "content-length": Buffer.byteLength(json), ...headers });
  res.end(json);
}

function field(object: Record<string, unknown> | undefined, camel: string): unknown {
  if (object === undefined) return undefined;
  return object[camel] ?? object[camel.replace(/[A-Z]/g, (letter) => `_${letter.toLowerCase()}`)];
}

function asObject(value: unknown): Record<string, unknown> | undefined {
  return typeof value === "object" && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>) : undefined;
}

function asArray(value: unknown): unknown[] {
  return Array.isArray(value) ? value : [];
}
