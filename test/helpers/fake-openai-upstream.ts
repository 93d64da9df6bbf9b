/**
 * An in-process OpenAI-compatible server (node:http on 127.0.0.1, a free port) standing in for hosted
 * upstreams in tests and benchmarks. Replies are shaped like OpenAI's (chat.completion, text_completion,
 * embedding list, moderation, model list, error envelopes) and deterministic: chat answers `echo: <last user
 * text>`, a moderation flags an input holding the word "attack" (violence), embeddings are derived from the input text (one per input of an `input` list; `rejectInput` fails a
 * call naming its bad input, as OpenAI does).
 *
 * It can fail the way real upstreams do, per request, through `setFault`: a status with its error body
 * (429 with Retry-After / retry-after-ms, 5xx, 4xx), a reset connection, a slow answer, no answer at all, or
 * an answer held until the test opens a gate.
 * `countsByKey` counts requests per Item text so a test can check each arrived no more often than its
 * retries explain.
 *
 * A chat body with `tools` and `tool_choice: "required"` is answered with one call of the first tool, its
 * arguments `{"text": <last user text>}` (finish_reason tool_calls).
 *
 * `stream: true` bodies (chat and completions) get the same reply as Server-Sent Events, shaped like
 * OpenAI's: a role chunk, the text a few characters at a time, a finish chunk, a usage chunk when
 * `stream_options.include_usage` asks for it, then `data: [DONE]`; `streamIntervalMs` spaces the events.
 *
 * Fast on purpose (benchmarks drive tens of thousands of requests a second through it): no logging, no
 * per-request allocations beyond the reply, and request bodies are kept only with `record: true`.
 */
import http from "node:http";
import type { AddressInfo } from "node:net";

export interface FakeOpenAIUpstreamOptions {
  /** Extra latency added to every answer, milliseconds (the scale-out benchmark uses 50). */
  latencyMs?: number;
  /** When set, requests must send `Authorization: Bearer <apiKey>` or get a 401. */
  apiKey?: string;
  /** Ids listed by `GET /v1/models`. Default: ["fake-model"]. */
  models?: string[];
  /** Keep every inference request in `received` (off by default: benchmarks send millions). */
  record?: boolean;
  /** Embedding length when the request has no `dimensions`. Default 8. */
  embeddingDimensions?: number;
  /**
   * Embedding inputs to refuse, as OpenAI refuses a bad one: the whole call fails with a 400 whose `param`
   * names the input (`input[3]` in a list, `input` for a lone string).
   */
  rejectInput?: (text: string) => boolean;
  /** Pause between the events of a streamed reply, milliseconds. Default 0. */
  streamIntervalMs?: number;
  /** Characters of text per streamed chunk. Default 4. */
  streamPieceChars?: number;
  /**
   * Report prefix-cache hits as vLLM with automatic prefix caching does: a chat request whose system message
   * this upstream has answered before gets that message's tokens as `usage.prompt_tokens_details.cached_tokens`.
   */
  prefixCache?: boolean;
}

/**
 * What to do with one request. Applied in this order: wait for `until`, then `delayMs`; then `hang` (never answer),
 * `reset` (destroy the socket, no response), `truncate` (half a 200 answer, then reset), `status` (answer it with `body`, or an OpenAI error envelope
 * fitting the status; `rawBody` + `contentType` send non-JSON instead); otherwise answer normally.
 */
export interface FakeFault {
  status?: number;
  body?: unknown;
  rawBody?: string;
  contentType?: string;
  /** `Retry-After` header value: delta-seconds ("2", "0.05") or an HTTP date. */
  retryAfter?: string;
  /** `retry-after-ms` header value. */
  retryAfterMs?: string;
  headers?: Record<string, string>;
  reset?: boolean;
  /** Answer 200 with the full reply's Content-Length but only half its bytes, then reset: a body cut in transit. */
  truncate?: boolean;
  hang?: boolean;
  delayMs?: number;
  /** For a streamed reply: fail after this many events with an `error` event (as OpenAI reports late failures). */
  streamErrorAfter?: number;
  /**
   * Hold the request until this settles (resolves or rejects), then go on as above: a gate the test opens
   * when it wants the answer, e.g. a reply that must arrive only after another Worker finished the Item.
   */
  until?: Promise<unknown>;
}

export type FakeRequestKind = "chat" | "completion" | "embedding" | "moderation";

export interface FaultContext {
  /** First user message text (chat), prompt (completion) or input (embedding); arrays joined by "\n". */
  key: string;
  kind: FakeRequestKind;
  body: Record<string, unknown>;
  headers: http.IncomingHttpHeaders;
  /** 1 for the first request with this key, 2 for the second, ... (counts faulted requests too). */
  attemptForKey: number;
  /** 1-based number of this request among all requests the server received. */
  n: number;
}

export type FaultRule = (context: FaultContext) => FakeFault | undefined;

export interface ReceivedRequest {
  path: string;
  headers: http.IncomingHttpHeaders;
  body: Record<string, unknown>;
  /** The body as it came over the wire. */
  text: string;
}

export interface FakeOpenAIUpstream {
  /** Base URL for clients and Model configs: `http://127.0.0.1:<port>/v1`. */
  readonly url: string;
  /** `http://127.0.0.1:<port>`. */
  readonly origin: string;
  /** Requests received (every path and method), since start or `resetCounts()`. */
  readonly requests: number;
  /** Inference requests per key (see FaultContext.key). */
  readonly countsByKey: Map<string, number>;
  /** Inference requests being handled now, and the most at once since start or `resetCounts()`. */
  readonly inFlight: number;
  readonly maxInFlight: number;
  /** Streamed replies whose client went away before the last event. */
  readonly streamsCutShort: number;
  /** The latest inference request (always kept). */
  readonly lastRequest: ReceivedRequest | null;
  /** Every inference request, only with `record: true`. */
  readonly received: ReceivedRequest[];
  setFault(rule: FaultRule | null): void;
  /**
   * Accept at most `n` inference requests at once and answer 429 (no Retry-After) to any beyond, like a
   * hosted API's concurrency limit; null (the default) accepts all. `rejectedByCapacity` counts those 429s.
   */
  setCapacity(n: number | null): void;
  readonly rejectedByCapacity: number;
  setLatency(ms: number): void;
  setStreamInterval(ms: number): void;
  resetCounts(): void;
  /** Stops listening and destroys open sockets (hung and keep-alive ones), so tests never hang. */
  close(): Promise<void>;
}

const KIND_BY_PATH: Record<string, FakeRequestKind> = {
  "/v1/chat/completions": "chat",
  "/v1/completions": "completion",
  "/v1/embeddings": "embedding",
  "/v1/moderations": "moderation",
};

export async function startFakeOpenAIUpstream(options: FakeOpenAIUpstreamOptions = {}): Promise<FakeOpenAIUpstream> {
  let fault: FaultRule | null = null;
  let capacity: number | null = null;
  let admitted = 0;
  let rejectedByCapacity = 0;
  let latencyMs = options.latencyMs ?? 0;
  const state = { requests: 0, inFlight: 0, maxInFlight: 0, streamsCutShort: 0, lastRequest: null as ReceivedRequest | null };
  const streaming = { intervalMs: options.streamIntervalMs ?? 0, pieceChars: options.streamPieceChars ?? 4, onCutShort: () => void (state.streamsCutShort += 1) };
  const countsByKey = new Map<string, number>();
  const received: ReceivedRequest[] = [];
  const models = options.models ?? ["fake-model"];
  const expectedAuth = options.apiKey === undefined ? null : `Bearer ${options.apiKey}`;
  const dimensions = options.embeddingDimensions ?? 8;
  const seenSystems = options.prefixCache ? new Set<string>() : null;

  const server = http.createServer((req, res) => {
    state.requests += 1;
    const n = state.requests;
    const requestId = `req_fake_${n.toString(36)}`;
    if (expectedAuth !== null && req.headers.authorization !== expectedAuth) {
      drain(req, () => sendJson(res, 401, requestId, errorEnvelope(401, "Incorrect API key provided.", "invalid_api_key")));
      return;
    }
    const path = (req.url ?? "/").split("?", 1)[0] ?? "/";
    if (req.method === "GET" && path === "/v1/models") {
      drain(req, () => sendJson(res, 200, requestId, { object: "list", data: models.map((id) => ({ id, object: "model", created: 1_700_000_000, owned_by: "fake-upstream" })) }));
      return;
    }
    const kind = req.method === "POST" ? KIND_BY_PATH[path] : undefined;
    if (kind === undefined) {
      drain(req, () => sendJson(res, 404, requestId, errorEnvelope(404, `Unknown request URL: ${req.method} ${path}.`, "unknown_url")));
      return;
    }
    let text = "";
    req.setEncoding("utf8");
    req.on("data", (chunk: string) => (text += chunk));
    req.on("end", () => {
      let body: Record<string, unknown>;
      try {
        const parsed: unknown = JSON.parse(text);
        if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) throw new Error("not an object");
        body = parsed as Record<string, unknown>;
      } catch {
        sendJson(res, 400, requestId, errorEnvelope(400, "We could not parse the JSON body of your request.", null));
        return;
      }
      const key = keyOf(kind, body);
      const attemptForKey = (countsByKey.get(key) ?? 0) + 1;
      countsByKey.set(key, attemptForKey);
      const request: ReceivedRequest = { path, headers: req.headers, body, text };
      state.lastRequest = request;
      if (options.record) received.push(request);
      state.inFlight += 1;
      if (state.inFlight > state.maxInFlight) state.maxInFlight = state.inFlight;
      res.once("close", () => (state.inFlight -= 1));
      let chosen = fault?.({ key, kind, body, headers: req.headers, attemptForKey, n });
      let holdsSlot = false;
      if (capacity !== null && admitted >= capacity) {
        rejectedByCapacity += 1;
        chosen = { status: 429 };
      } else if (capacity !== null) {
        admitted += 1;
        holdsSlot = true;
      }
      const freeSlot = (): void => {
        if (holdsSlot) admitted -= 1;
        holdsSlot = false;
      };
      res.once("close", freeSlot);
      const answer = (): void => {
        // A plain answer frees its slot as it is sent, as on a real server: waiting for the response's
        // 'close' counted it busy after the client already had it and had sent the next request. A stream
        // holds its slot until it ends.
        if (!streaming) freeSlot();
        respond(res, requestId, kind, body, n, chosen, dimensions, options.rejectInput, streaming, seenSystems);
      };
      const delay = latencyMs + (chosen?.delayMs ?? 0);
      const answerAfterDelay = (): void => {
        if (delay > 0) setTimeout(answer, delay).unref();
        else answer();
      };
      if (chosen?.until) void chosen.until.then(answerAfterDelay, answerAfterDelay);
      else answerAfterDelay();
    });
  });
  // Longer than undici's default keep-alive, so the client always closes idle sockets first (no reset races).
  server.keepAliveTimeout = 30_000;

  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  const origin = `http://127.0.0.1:${port}`;

  return {
    url: `${origin}/v1`,
    origin,
    get requests() {
      return state.requests;
    },
    countsByKey,
    get inFlight() {
      return state.inFlight;
    },
    get maxInFlight() {
      return state.maxInFlight;
    },
    get lastRequest() {
      return state.lastRequest;
    },
    get streamsCutShort() {
      return state.streamsCutShort;
    },
    received,
    setFault(rule) {
      fault = rule;
    },
    setCapacity(n) {
      capacity = n;
    },
    get rejectedByCapacity() {
      return rejectedByCapacity;
    },
    setLatency(ms) {
      latencyMs = ms;
    },
    setStreamInterval(ms) {
      streaming.intervalMs = ms;
    },
    resetCounts() {
      state.requests = 0;
      rejectedByCapacity = 0;
      state.maxInFlight = state.inFlight;
      state.lastRequest = null;
      countsByKey.clear();
      received.length = 0;
    },
    close() {
      return new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
    },
  };
}

/** Applies `fault` to the first `n` requests of each key (of every key `match` accepts). */
export function failFirstAttempts(n: number, fault: FakeFault, match: (key: string) => boolean = () => true): FaultRule {
  return ({ key, attemptForKey }) => (attemptForKey <= n && match(key) ? fault : undefined);
}

function respond(
  res: http.ServerResponse,
  requestId: string,
  kind: FakeRequestKind,
  body: Record<string, unknown>,
  n: number,
  fault: FakeFault | undefined,
  dimensions: number,
  rejectInput: ((text: string) => boolean) | undefined,
  streaming: StreamSettings,
  seenSystems: Set<string> | null,
): void {
  if (res.destroyed) return;
  if (fault?.hang) return;
  if (fault?.reset) {
    res.socket?.destroy();
    return;
  }
  if (fault?.status !== undefined) {
    sendFault(res, requestId, fault, fault.status);
    return;
  }
  if (fault?.truncate) {
    const json = Buffer.from(JSON.stringify(replyFor(kind, body, n, dimensions, seenSystems)));
    res.writeHead(200, { "content-type": "application/json", "content-length": json.length, "x-request-id": requestId });
    res.write(json.subarray(0, json.length >> 1), () => res.socket?.destroy());
    return;
  }
  const problem = invalidBody(kind, body) ?? rejectedInput(kind, body, rejectInput);
  if (problem !== null) {
    sendJson(res, 400, requestId, errorEnvelope(400, problem.message, null, problem.param));
    return;
  }
  if (body.stream === true && (kind === "chat" || kind === "completion")) {
    streamReply(res, requestId, kind, body, replyFor(kind, body, n, dimensions, seenSystems) as Record<string, unknown>, streaming, fault?.streamErrorAfter);
    return;
  }
  sendJson(res, 200, requestId, replyFor(kind, body, n, dimensions, seenSystems));
}

interface StreamSettings {
  intervalMs: number;
  pieceChars: number;
  onCutShort: () => void;
}

/** The reply as OpenAI streams it (see the file comment), one event per `intervalMs`. */
function streamReply(
  res: http.ServerResponse,
  requestId: string,
  kind: FakeRequestKind,
  body: Record<string, unknown>,
  reply: Record<string, unknown>,
  settings: StreamSettings,
  errorAfter: number | undefined,
): void {
  const choice = (reply.choices as Record<string, unknown>[])[0]!;
  const message = choice.message as { content: string | null; tool_calls?: { id: string; function: { name: string; arguments: string } }[] } | undefined;
  const text = kind === "chat" ? (message?.content ?? "") : String(choice.text);
  const base = { id: reply.id, object: kind === "chat" ? "chat.completion.chunk" : "text_completion", created: reply.created, model: reply.model };
  const includeUsage = (body.stream_options as { include_usage?: unknown } | undefined)?.include_usage === true;
  const usageField = includeUsage ? { usage: null } : {};
  const events: unknown[] = [];
  const piece = (content: string, finish: string | null): unknown =>
    kind === "chat"
      ? { ...base, choices: [{ index: 0, delta: finish ? {} : { content }, logprobs: null, finish_reason: finish }], ...usageField }
      : { ...base, choices: [{ text: content, index: 0, logprobs: null, finish_reason: finish }], ...usageField };
  if (kind === "chat") events.push({ ...base, choices: [{ index: 0, delta: { role: "assistant", content: "" }, logprobs: null, finish_reason: null }], ...usageField });
  for (let at = 0; at < text.length; at += settings.pieceChars) events.push(piece(text.slice(at, at + settings.pieceChars), null));
  for (const [index, call] of (message?.tool_calls ?? []).entries()) {
    // A call streams as OpenAI streams it: id and name first, then the arguments in pieces.
    const delta = (fields: Record<string, unknown>): unknown => ({ ...base, choices: [{ index: 0, delta: { tool_calls: [{ index, ...fields }] }, logprobs: null, finish_reason: null }], ...usageField });
    events.push(delta({ id: call.id, type: "function", function: { name: call.function.name, arguments: "" } }));
    for (let at = 0; at < call.function.arguments.length; at += settings.pieceChars) events.push(delta({ function: { arguments: call.function.arguments.slice(at, at + settings.pieceChars) } }));
  }
  events.push(piece("", String(choice.finish_reason ?? "stop")));
  if (includeUsage) events.push({ ...base, choices: [], usage: reply.usage });
  res.writeHead(200, { "content-type": "text/event-stream", "cache-control": "no-cache", "x-request-id": requestId });
  let sent = 0;
  const next = (): void => {
    if (res.destroyed) {
      settings.onCutShort();
      return;
    }
    if (errorAfter !== undefined && sent === errorAfter) {
      res.end(`data: ${JSON.stringify(errorEnvelope(500, "The server had an error while streaming.", "server_error"))}\n\n`);
      return;
    }
    if (sent === events.length) {
      res.end("data: [DONE]\n\n");
      return;
    }
    res.write(`data: ${JSON.stringify(events[sent])}\n\n`);
    sent += 1;
    if (settings.intervalMs > 0) setTimeout(next, settings.intervalMs).unref();
    else setImmediate(next);
  };
  next();
}

function sendFault(res: http.ServerResponse, requestId: string, fault: FakeFault, status: number): void {
  const headers: Record<string, string> = { ...fault.headers };
  if (fault.retryAfter !== undefined) headers["retry-after"] = fault.retryAfter;
  if (fault.retryAfterMs !== undefined) headers["retry-after-ms"] = fault.retryAfterMs;
  if (fault.rawBody !== undefined) {
    res.writeHead(status, { "content-type": fault.contentType ?? "text/plain", "content-length": Buffer.byteLength(fault.rawBody), "x-request-id": requestId, ...headers });
    res.end(fault.rawBody);
    return;
  }
  const body = fault.body ?? errorEnvelope(status, defaultMessage(status), status === 429 ? "rate_limit_exceeded" : null);
  sendJson(res, status, requestId, body, headers);
}

function sendJson(res: http.ServerResponse, status: number, requestId: string, body: unknown, headers: Record<string, string> = {}): void {
  if (res.destroyed) return;
  const json = JSON.stringify(body);
  res.writeHead(status, { "content-type": "application/json", "content-length": Buffer.byteLength(json), "x-request-id": requestId, ...headers });
  res.end(json);
}

function drain(req: http.IncomingMessage, then: () => void): void {
  req.resume();
  req.once("end", then);
}

function errorEnvelope(status: number, message: string, code: string | null, param: string | null = null): unknown {
  const type = status === 401 ? "authentication_error" : status === 429 ? "rate_limit_error" : status >= 500 ? "server_error" : "invalid_request_error";
  return { error: { message, type, param, code } };
}

function defaultMessage(status: number): string {
  if (status === 429) return "Rate limit reached for requests. Please try again later.";
  if (status >= 500) return "The server had an error while processing your request. Sorry about that!";
  return `The request was rejected with status ${status}.`;
}

function invalidBody(kind: FakeRequestKind, body: Record<string, unknown>): { message: string; param: string } | null {
  if (typeof body.model !== "string") return { message: "you must provide a model parameter", param: "model" };
  if (kind === "chat" && !Array.isArray(body.messages)) return { message: "'messages' is a required property", param: "messages" };
  if (kind === "completion" && body.prompt === undefined) return { message: "'prompt' is a required property", param: "prompt" };
  if ((kind === "embedding" || kind === "moderation") && body.input === undefined) return { message: "'input' is a required property", param: "input" };
  return null;
}

function rejectedInput(kind: FakeRequestKind, body: Record<string, unknown>, reject: ((text: string) => boolean) | undefined): { message: string; param: string } | null {
  if (kind !== "embedding" || reject === undefined) return null;
  const index = embeddingInputs(body.input).findIndex(reject);
  if (index < 0) return null;
  const param = Array.isArray(body.input) ? `input[${index}]` : "input";
  return { message: `Invalid value for '${param}': this input cannot be embedded.`, param };
}

/** The texts of an embedding `input`: a string, strings, one token-id list, or token-id lists (as JSON). */
function embeddingInputs(input: unknown): string[] {
  if (Array.isArray(input) && input.length > 0) {
    if (input.every((entry) => typeof entry === "string")) return input as string[];
    if (input.every((entry) => Array.isArray(entry))) return input.map((entry) => JSON.stringify(entry));
  }
  return [inputText(input)];
}

// ---- deterministic replies ----

type Message = { role?: unknown; content?: unknown };

function messagesOf(body: Record<string, unknown>): Message[] {
  return Array.isArray(body.messages) ? (body.messages as Message[]) : [];
}

/** Text of a message: string content, or the text parts of a content array. */
function contentText(content: unknown): string {
  if (typeof content === "string") return content;
  if (Array.isArray(content)) {
    return content.map((part: { type?: unknown; text?: unknown }) => (typeof part?.text === "string" ? part.text : "")).join("");
  }
  return "";
}

function inputText(input: unknown): string {
  if (typeof input === "string") return input;
  if (Array.isArray(input) && input.every((entry) => typeof entry === "string")) return input.join("\n");
  return JSON.stringify(input ?? null);
}

function keyOf(kind: FakeRequestKind, body: Record<string, unknown>): string {
  if (kind === "chat") {
    const first = messagesOf(body).find((message) => message?.role === "user");
    return contentText(first?.content);
  }
  return inputText(kind === "completion" ? body.prompt : body.input);
}

/** Roughly four characters a token, like OpenAI's rule of thumb; at least 1 for non-empty text. */
function tokenCount(text: string): number {
  return Math.ceil(text.length / 4);
}

function replyFor(kind: FakeRequestKind, body: Record<string, unknown>, n: number, dimensions: number, seenSystems: Set<string> | null): unknown {
  const created = Math.floor(Date.now() / 1000);
  const model = body.model;
  if (kind === "chat") {
    const messages = messagesOf(body);
    const lastUser = [...messages].reverse().find((message) => message?.role === "user");
    const tool = Array.isArray(body.tools) && body.tool_choice === "required" ? (body.tools[0] as { function?: { name?: string } }) : undefined;
    if (tool !== undefined) {
      const call = { id: `call_fake${n}`, type: "function", function: { name: tool.function?.name ?? "", arguments: JSON.stringify({ text: contentText(lastUser?.content) }) } };
      const message = { role: "assistant", content: null, tool_calls: [call], refusal: null };
      return { id: `chatcmpl-fake${n}`, object: "chat.completion", created, model, choices: [{ index: 0, message, logprobs: null, finish_reason: "tool_calls" }], usage: { prompt_tokens: 10, completion_tokens: 5, total_tokens: 15 } };
    }
    const content = `echo: ${contentText(lastUser?.content)}`;
    const promptTokens = messages.reduce((sum, message) => sum + 4 + tokenCount(contentText(message?.content)), 0);
    const completionTokens = tokenCount(content);
    const usage: Record<string, unknown> = { prompt_tokens: promptTokens, completion_tokens: completionTokens, total_tokens: promptTokens + completionTokens };
    if (seenSystems) {
      const system = messages[0]?.role === "system" ? contentText(messages[0].content) : null;
      usage.prompt_tokens_details = { cached_tokens: system !== null && seenSystems.has(system) ? 4 + tokenCount(system) : 0 };
      if (system !== null) seenSystems.add(system);
    }
    return {
      id: `chatcmpl-fake${n}`,
      object: "chat.completion",
      created,
      model,
      choices: [{ index: 0, message: { role: "assistant", content, refusal: null }, logprobs: null, finish_reason: "stop" }],
      usage,
      system_fingerprint: "fp_fake",
    };
  }
  if (kind === "completion") {
    const prompt = inputText(body.prompt);
    const text = `echo: ${prompt}`;
    const promptTokens = tokenCount(prompt);
    const completionTokens = tokenCount(text);
    return {
      id: `cmpl-fake${n}`,
      object: "text_completion",
      created,
      model,
      choices: [{ text, index: 0, logprobs: null, finish_reason: "stop" }],
      usage: { prompt_tokens: promptTokens, completion_tokens: completionTokens, total_tokens: promptTokens + completionTokens },
    };
  }
  if (kind === "moderation") return moderationReply(body, n);
  const inputs = embeddingInputs(body.input);
  const size = typeof body.dimensions === "number" && body.dimensions > 0 ? Math.min(4096, Math.floor(body.dimensions)) : dimensions;
  const promptTokens = inputs.reduce((sum, text) => sum + tokenCount(text), 0);
  return {
    object: "list",
    data: inputs.map((text, index) => ({ object: "embedding", index, embedding: embeddingOf(text, size) })),
    model,
    usage: { prompt_tokens: promptTokens, total_tokens: promptTokens },
  };
}

/** OpenAI's moderation object: one result per input; "attack" in an input flags it for violence. */
function moderationReply(body: Record<string, unknown>, n: number): unknown {
  const inputs = Array.isArray(body.input) ? body.input.map((entry) => (typeof entry === "string" ? entry : contentText([entry]))) : [inputText(body.input)];
  const names = ["harassment", "hate", "self-harm", "sexual", "violence"];
  const results = inputs.map((text) => {
    const violent = /\battack\b/i.test(text);
    const categories = Object.fromEntries(names.map((name) => [name, name === "violence" && violent]));
    const scores = Object.fromEntries(names.map((name) => [name, name === "violence" && violent ? 0.97 : 0.0001]));
    return { flagged: violent, categories, category_scores: scores, category_applied_input_types: Object.fromEntries(names.map((name) => [name, ["text"]])) };
  });
  return { id: `modr-fake${n}`, model: body.model, results };
}

/** A unit vector from an FNV-1a hash of the text: the same text always gives the same vector. */
export function embeddingOf(text: string, size: number): number[] {
  let hash = 0x811c9dc5;
  for (let i = 0; i < text.length; i += 1) {
    hash ^= text.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193) >>> 0;
  }
  hash = hash || 1; // xorshift never leaves 0
  const vector: number[] = [];
  let norm = 0;
  for (let i = 0; i < size; i += 1) {
    hash ^= hash << 13;
    hash ^= hash >>> 17;
    hash ^= hash << 5;
    hash >>>= 0;
    const value = hash / 0xffffffff - 0.5;
    vector.push(value);
    norm += value * value;
  }
  const scale = norm > 0 ? 1 / Math.sqrt(norm) : 0;
  return vector.map((value) => Math.round(value * scale * 1e6) / 1e6);
}
