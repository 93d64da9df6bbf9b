/**
 * An in-process stand-in for Anthropic's Messages API (node:http on 127.0.0.1, a free port): `POST /v1/messages`
 * answered with deterministic Messages (`echo: <last user text>`), Anthropic's error envelope and headers
 * (`request-id`), and its failure modes on demand through `setFault`: 429 rate_limit_error and 529
 * overloaded_error with `retry-after`, other statuses, a reset connection.
 *
 * It checks what the real service checks before answering: `x-api-key` (when configured), the
 * `anthropic-version` header, and `model`, `max_tokens` and `messages` in the body (400 invalid_request_error
 * otherwise). With `tools` in the request and a last user text that starts with "use tool", it answers with a
 * tool_use block for the first tool; a `stop_sequences` entry found in the echo ends the answer there.
 * With `stream: true` the same Message is sent as Anthropic's named events (text in 4-character deltas, tool
 * input as JSON fragments), and `failMidStream` ends such a stream with an `error` event after its first delta.
 */
import http from "node:http";
import type { AddressInfo } from "node:net";

export interface AnthropicFault {
  status?: number;
  /** Replaces the error envelope the status would get. */
  body?: unknown;
  retryAfter?: string;
  headers?: Record<string, string>;
  reset?: boolean;
  /** A streamed answer fails after its first delta with this error type (e.g. "overloaded_error"). */
  failMidStream?: string;
}

export interface AnthropicFaultContext {
  /** The last user text of the request. */
  key: string;
  body: Record<string, unknown>;
  /** 1 for the first request with this key, 2 for the second, ... */
  attemptForKey: number;
}

export interface FakeAnthropicUpstream {
  /** `http://127.0.0.1:<port>` (the SDK's and spool's baseUrl). */
  readonly url: string;
  readonly received: { headers: http.IncomingHttpHeaders; body: Record<string, unknown> }[];
  readonly countsByKey: Map<string, number>;
  setFault(rule: ((context: AnthropicFaultContext) => AnthropicFault | undefined) | null): void;
  close(): Promise<void>;
}

const ERROR_TYPES: Record<number, string> = { 400: "invalid_request_error", 401: "authentication_error", 404: "not_found_error", 429: "rate_limit_error", 529: "overloaded_error" };

export async function startFakeAnthropicUpstream(options: { apiKey?: string } = {}): Promise<FakeAnthropicUpstream> {
  let fault: ((context: AnthropicFaultContext) => AnthropicFault | undefined) | null = null;
  let n = 0;
  const received: FakeAnthropicUpstream["received"] = [];
  const countsByKey = new Map<string, number>();

  const server = http.createServer((req, res) => {
    n += 1;
    const requestId = `req_fake_anthropic_${n}`;
    const send = (status: number, body: unknown, headers: Record<string, string> = {}): void => {
      const json = JSON.stringify(body);
      res.writeHead(status, { "content-type": "application/json", "content-length": Buffer.byteLength(json), "request-id": requestId, ...headers });
      res.end(json);
    };
    const error = (status: number, message: string, headers: Record<string, string> = {}): void =>
      send(status, { type: "error", error: { type: ERROR_TYPES[status] ?? (status >= 500 ? "api_error" : "invalid_request_error"), message }, request_id: requestId }, headers);
    let text = "";
    req.setEncoding("utf8");
    req.on("data", (chunk: string) => (text += chunk));
    req.on("end", () => {
      if (req.method !== "POST" || req.url !== "/v1/messages") return error(404, `Not found: ${req.method} ${req.url}`);
      if (options.apiKey !== undefined && req.headers["x-api-key"] !== options.apiKey) return error(401, "invalid x-api-key");
      if (typeof req.headers["anthropic-version"] !== "string") return error(400, "anthropic-version: header is required");
      let body: Record<string, unknown>;
      try {
        body = JSON.parse(text) as Record<string, unknown>;
      } catch {
        return error(400, "The request body is not valid JSON.");
      }
      received.push({ headers: req.headers, body });
      const key = lastUserText(body);
      const attemptForKey = (countsByKey.get(key) ?? 0) + 1;
      countsByKey.set(key, attemptForKey);
      const chosen = fault?.({ key, body, attemptForKey });
      if (chosen?.reset) {
        res.socket?.destroy();
        return;
      }
      if (chosen?.status !== undefined) {
        const headers = { ...chosen.headers, ...(chosen.retryAfter !== undefined ? { "retry-after": chosen.retryAfter } : {}) };
        if (chosen.body !== undefined) return send(chosen.status, chosen.body, headers);
        return error(chosen.status, chosen.status === 529 ? "Overloaded" : chosen.status === 429 ? "Number of requests has exceeded your rate limit." : `Failed with ${chosen.status}.`, headers);
      }
      if (typeof body.model !== "string") return error(400, "model: Field required");
      if (typeof body.max_tokens !== "number") return error(400, "max_tokens: Field required");
      if (!Array.isArray(body.messages) || body.messages.length === 0) return error(400, "messages: Field required");
      const message = messageFor(body, key, n);
      if (body.stream === true) return sendStream(res, requestId, message, chosen?.failMidStream);
      send(200, message);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    received,
    countsByKey,
    setFault(rule) {
      fault = rule;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

function textOf(content: unknown): string {
  if (typeof content === "string") return content;
  if (!Array.isArray(content)) return "";
  return content.map((block: { type?: unknown; text?: unknown; content?: unknown }) => (block?.type === "text" && typeof block.text === "string" ? block.text : block?.type === "tool_result" ? textOf(block.content) : "")).join("");
}

function lastUserText(body: Record<string, unknown>): string {
  const messages = Array.isArray(body.messages) ? (body.messages as { role?: unknown; content?: unknown }[]) : [];
  return textOf([...messages].reverse().find((message) => message?.role === "user")?.content);
}

function messageFor(body: Record<string, unknown>, key: string, n: number): Record<string, unknown> {
  const prompt = JSON.stringify(body.messages ?? []).length + (typeof body.system === "string" ? body.system.length : 0);
  const usage = { input_tokens: Math.ceil(prompt / 4), output_tokens: 0, cache_creation_input_tokens: 0, cache_read_input_tokens: 2 };
  const tools = Array.isArray(body.tools) ? (body.tools as { name?: unknown }[]) : [];
  if (tools.length > 0 && key.startsWith("use tool")) {
    usage.output_tokens = 7;
    const content = [{ type: "tool_use", id: `toolu_fake_${n}`, name: String(tools[0]?.name ?? ""), input: { asked: key } }];
    return { id: `msg_fake_${n}`, type: "message", role: "assistant", model: body.model, content, stop_reason: "tool_use", stop_sequence: null, usage };
  }
  let text = `echo: ${key}`;
  let stopReason = "end_turn";
  let stopSequence: string | null = null;
  for (const stop of Array.isArray(body.stop_sequences) ? (body.stop_sequences as string[]) : []) {
    const at = text.indexOf(stop);
    if (at >= 0) {
      text = text.slice(0, at);
      stopReason = "stop_sequence";
      stopSequence = stop;
      break;
    }
  }
  usage.output_tokens = Math.ceil(text.length / 4);
  return { id: `msg_fake_${n}`, type: "message", role: "assistant", model: body.model, content: [{ type: "text", text }], stop_reason: stopReason, stop_sequence: stopSequence, usage };
}

/** The Message as Anthropic streams it: named events, content in pieces, usage at both ends. */
function sendStream(res: http.ServerResponse, requestId: string, message: Record<string, unknown>, failMidStream: string | undefined): void {
  res.writeHead(200, { "content-type": "text/event-stream", "request-id": requestId });
  const write = (event: string, data: Record<string, unknown>): void => void res.write(`event: ${event}\ndata: ${JSON.stringify({ type: event, ...data })}\n\n`);
  const usage = message.usage as Record<string, number>;
  write("message_start", { message: { ...message, content: [], stop_reason: null, stop_sequence: null, usage: { ...usage, output_tokens: 1 } } });
  write("ping", {});
  const blocks = message.content as { type: string; text?: string; id?: string; name?: string; input?: unknown }[];
  for (const [index, block] of blocks.entries()) {
    const input = JSON.stringify(block.input);
    const pieces = block.type === "text" ? ((block.text ?? "").match(/[\s\S]{1,4}/g) ?? []) : [input.slice(0, 5), input.slice(5)];
    write("content_block_start", { index, content_block: block.type === "text" ? { type: "text", text: "" } : { type: "tool_use", id: block.id, name: block.name, input: {} } });
    for (const piece of pieces) {
      write("content_block_delta", { index, delta: block.type === "text" ? { type: "text_delta", text: piece } : { type: "input_json_delta", partial_json: piece } });
      if (failMidStream !== undefined) {
        write("error", { error: { type: failMidStream, message: "Overloaded" } });
        res.end();
        return;
      }
    }
    write("content_block_stop", { index });
  }
  write("message_delta", { delta: { stop_reason: message.stop_reason, stop_sequence: message.stop_sequence }, usage: { output_tokens: usage.output_tokens } });
  write("message_stop", {});
  res.end();
}
