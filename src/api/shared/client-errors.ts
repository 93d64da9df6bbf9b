/**
 * Node's own HTTP failures, raised before (or beside) Fastify's routing: a request line or headers past
 * the parser's 16 KiB, bytes that are not HTTP, a client too slow to send its headers or its whole
 * request in time. Node reports them as the server's `clientError`; Fastify's default answers in its own
 * JSON shape and destroys the socket at once, so a client still sending (a 100 KB URL) often saw a reset
 * and no body. This handler answers in the dialect of the request's path prefix (read from the bytes that
 * failed to parse) and closes gracefully: FIN after the reply, while the rest of the client's bytes are
 * read and dropped, so the reply is not lost to a reset.
 */
import type { ServerResponse } from "node:http";
import type { Socket } from "node:net";
import { randomToken } from "../../core/ids.ts";
import { HttpEdgeError, seconds } from "./edge-errors.ts";
import type { ErrorMapper } from "./error-reply.ts";
import { failBody } from "./request-body.ts";

/** How long a connection that failed at the HTTP level may linger to deliver its reply. */
const LINGER_MS = 5_000;
/** Node's default `maxHeaderSize`, which bounds the request line and headers together. */
const MAX_HEADER_BYTES = 16 * 1024;

interface NodeClientError extends Error {
  code?: string;
  /** The bytes the parser failed on: a Buffer, set by Node for parse errors (Fastify's types say otherwise). */
  rawPacket?: unknown;
}

export interface ClientErrorOptions {
  /** The error mapper of the dialect serving `path`. */
  mapperFor(path: string): ErrorMapper;
  headersTimeoutMs: number;
  requestTimeoutMs: number;
  log(error: Error, statusCode: number): void;
}

export function makeClientErrorHandler(options: ClientErrorOptions): (error: NodeClientError, socket: Socket) => void {
  // The parser repeats its error for every later chunk of a connection it has given up on.
  const answered = new WeakSet<Socket>();
  return (error, socket) => {
    if (error.code === "ECONNRESET" || socket.destroyed || answered.has(socket)) return;
    const inFlight = (socket as Socket & { _httpMessage?: ServerResponse })._httpMessage ?? null;
    const edge = edgeErrorFor(error, options);
    if (edge === null) {
      socket.destroy();
      return;
    }
    // The request reached a route that reads (or is about to read) its body: the route answers, in its
    // dialect, like for an idle body. Node's whole-request deadline, or bad bytes inside the body.
    if (inFlight && !inFlight.headersSent && failBody(inFlight.req, edge, { dropUnread: false })) return;
    answered.add(socket);
    if (inFlight?.headersSent) {
      socket.destroy();
      return;
    }
    options.log(error, edge.statusCode);
    const path = inFlight?.req.url ?? requestTargetOf(packetOf(error)) ?? "/";
    const requestId = `req_${randomToken(20)}`;
    const reply = options.mapperFor(pathOf(path))(edge, requestId);
    const body = JSON.stringify(reply.body);
    const headers = [
      `HTTP/1.1 ${reply.statusCode} ${statusText(reply.statusCode)}`,
      "content-type: application/json; charset=utf-8",
      `content-length: ${Buffer.byteLength(body)}`,
      "connection: close",
      `x-request-id: ${requestId}`,
      ...Object.entries(reply.headers).map(([name, value]) => `${name}: ${value}`),
    ];
    if (socket.writable) socket.write(`${headers.join("\r\n")}\r\n\r\n${body}`);
    socket.end();
    socket.resume();
    setTimeout(() => socket.destroy(), LINGER_MS).unref();
  };
}

function edgeErrorFor(error: NodeClientError, options: ClientErrorOptions): HttpEdgeError | null {
  if (error.code === "ERR_HTTP_REQUEST_TIMEOUT") {
    const limits = [`headers within ${seconds(options.headersTimeoutMs)}`];
    if (options.requestTimeoutMs > 0) limits.push(`the whole request within ${seconds(options.requestTimeoutMs)}`);
    return new HttpEdgeError(408, "request_timeout", `The request did not arrive in time: the server expects the ${limits.join(" and ")}.`);
  }
  if (error.code === "HPE_HEADER_OVERFLOW") {
    if (!requestLineComplete(packetOf(error))) {
      return new HttpEdgeError(414, "uri_too_long", `The request URL is too long: the server accepts at most ${MAX_HEADER_BYTES / 1024} KiB for the URL and headers together.`);
    }
    return new HttpEdgeError(431, "headers_too_large", `The request headers are too large: the server accepts at most ${MAX_HEADER_BYTES / 1024} KiB for the URL and headers together.`);
  }
  if (typeof error.code === "string" && error.code.startsWith("HPE_")) {
    return new HttpEdgeError(400, "malformed_http", `The request is not valid HTTP/1.1 (${error.code}).`);
  }
  return null;
}

function packetOf(error: NodeClientError): Buffer | undefined {
  return Buffer.isBuffer(error.rawPacket) ? error.rawPacket : undefined;
}

/** `/v1beta/files?x=...` from `GET /v1beta/files?x=... HTTP/1.1`, even when the line is cut short. */
function requestTargetOf(packet: Buffer | undefined): string | null {
  if (!packet) return null;
  const match = /^[A-Z]+ (\/\S*)/.exec(packet.subarray(0, 4096).toString("latin1"));
  return match?.[1] ?? null;
}

function requestLineComplete(packet: Buffer | undefined): boolean {
  if (!packet || requestTargetOf(packet) === null) return true;
  return packet.indexOf("\r\n") !== -1 || packet.indexOf("\n") !== -1;
}

function pathOf(url: string): string {
  const query = url.indexOf("?");
  return query === -1 ? url : url.slice(0, query);
}

function statusText(status: number): string {
  const texts: Record<number, string> = { 400: "Bad Request", 408: "Request Timeout", 414: "URI Too Long", 431: "Request Header Fields Too Large" };
  return texts[status] ?? "Error";
}
