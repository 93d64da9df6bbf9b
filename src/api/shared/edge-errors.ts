/**
 * Failures of the HTTP exchange itself (a body that stops arriving, a URL too long for the parser, a
 * client that hangs up), as opposed to problems with what a request asks for (AppError).
 *
 * They carry an HTTP status and a lower-case wire code the way Fastify's own client errors do, so each
 * dialect's mapper (src/api/<dialect>/errors.ts) renders them in its envelope without knowing this class.
 */
export class HttpEdgeError extends Error {
  readonly statusCode: number;
  /** Wire code: `request_timeout`, `uri_too_long`, ... (OpenAI's `code`; Google's envelope has its status). */
  readonly code: string;

  constructor(statusCode: number, code: string, message: string) {
    super(message);
    this.name = "HttpEdgeError";
    this.statusCode = statusCode;
    this.code = code;
  }
}

/** Nginx's 499: the client closed the connection before its request was complete. Nobody reads the reply. */
export function clientClosedRequest(): HttpEdgeError {
  return new HttpEdgeError(499, "client_closed_request", "The client closed the connection before the request body was complete.");
}

export function isBodyTimeout(error: unknown): boolean {
  return error instanceof HttpEdgeError && error.statusCode === 408;
}

export function seconds(ms: number): string {
  return ms % 1000 === 0 ? `${ms / 1000} s` : `${(ms / 1000).toFixed(1)} s`;
}
