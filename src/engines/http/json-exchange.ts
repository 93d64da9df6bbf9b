/**
 * One POST whose whole answer is read into memory, on undici's `dispatch()` with a handler of its own.
 *
 * postJson used undici's `request()`, which wraps every answer in a Readable body stream, a request handler
 * object and a consumer, and parses the headers into an object; for answers of a few hundred bytes that
 * machinery was about a tenth of the Batch hot path's main-thread CPU (issue 11). Every JSON exchange reads
 * the whole answer anyway, so the handler below only collects the chunks and decodes them once, as
 * `body.text()` did: UTF-8, a byte order mark skipped.
 *
 * Failures arrive as `request()` reported them: undici's errors (socket, connect and headers timeouts, a body
 * cut short), or the signal's reason when the signal fired, which exchangeError turns into EngineErrors.
 */
import { isAscii } from "node:buffer";
import type { Dispatcher } from "undici";
import type { HttpHeaders } from "./retry-after.ts";

export interface ExchangeAnswer {
  statusCode: number;
  headers: HttpHeaders;
  text: string;
}

export interface ExchangeRequest {
  path: string;
  headers: Record<string, string>;
  body: string;
  signal: AbortSignal | undefined;
}

/** Posts `request` through `dispatcher` and resolves with the final answer, its body read in full. */
export function exchangeJson(dispatcher: Dispatcher, request: ExchangeRequest): Promise<ExchangeAnswer> {
  return new Promise((resolve, reject) => {
    const { signal } = request;
    if (signal?.aborted) {
      reject(signal.reason);
      return;
    }
    dispatcher.dispatch({ method: "POST", path: request.path, headers: request.headers, body: request.body }, new ExchangeHandler(resolve, reject, signal));
  });
}

/**
 * undici's handler protocol (onConnect, onHeaders, onData, onComplete, onError). These are the methods its
 * types mark deprecated; the newer ones (onResponseStart...) get the headers already parsed into an object,
 * which is the cost this handler avoids. An undici major that drops them means moving to those.
 */
class ExchangeHandler implements Dispatcher.DispatchHandler {
  private statusCode = 0;
  private headers: HttpHeaders = {};
  private readonly chunks: Buffer[] = [];
  private length = 0;
  private abortExchange: ((reason?: Error) => void) | null = null;
  private settled = false;
  /** Bound once per exchange: the signal needs the same function to add and remove. */
  private readonly onAbort: () => void;

  constructor(
    private readonly resolve: (answer: ExchangeAnswer) => void,
    private readonly reject: (error: unknown) => void,
    private readonly signal: AbortSignal | undefined,
  ) {
    this.onAbort = () => this.abortExchange?.(this.signal?.reason as Error);
    signal?.addEventListener("abort", this.onAbort, { once: true });
  }

  onConnect(abort: (reason?: Error) => void): void {
    if (this.signal?.aborted) {
      abort(this.signal.reason as Error);
      return;
    }
    this.abortExchange = abort;
  }

  onHeaders(statusCode: number, rawHeaders: Buffer[]): boolean {
    // 1xx answers (100 Continue, 103 Early Hints) come before the real one.
    if (statusCode < 200) return true;
    this.statusCode = statusCode;
    this.headers = headerRecord(rawHeaders);
    return true;
  }

  onData(chunk: Buffer): boolean {
    this.chunks.push(chunk);
    this.length += chunk.length;
    return true;
  }

  onComplete(): void {
    if (this.finish()) this.resolve({ statusCode: this.statusCode, headers: this.headers, text: decodeBody(this.chunks, this.length) });
  }

  onError(error: Error): void {
    if (this.finish()) this.reject(error);
  }

  /** True the first time: the exchange ended, and the signal no longer concerns it. */
  private finish(): boolean {
    if (this.settled) return false;
    this.settled = true;
    this.signal?.removeEventListener("abort", this.onAbort);
    return true;
  }
}

/**
 * The headers spool reads from a JSON answer (its type, the upstream's request id, retry hints), lower-case
 * names, every value of a repeated one. Only these: turning every header of every answer into strings cost as
 * much as undici's own parsing (2% of the hot path), and a name of another length is not even decoded.
 */
export const READ_HEADERS: ReadonlySet<string> = new Set(["content-type", "x-request-id", "request-id", "x-should-retry", "retry-after", "retry-after-ms"]);
const READ_LENGTHS = new Set([...READ_HEADERS].map((name) => name.length));

function headerRecord(raw: Buffer[]): HttpHeaders {
  const headers: HttpHeaders = Object.create(null) as HttpHeaders;
  for (let index = 0; index + 1 < raw.length; index += 2) {
    if (!READ_LENGTHS.has(raw[index]!.length)) continue;
    const name = raw[index]!.toString("latin1").toLowerCase();
    if (!READ_HEADERS.has(name)) continue;
    const value = raw[index + 1]!.toString("latin1");
    const previous = headers[name];
    if (previous === undefined) headers[name] = value;
    else if (Array.isArray(previous)) previous.push(value);
    else headers[name] = [previous, value];
  }
  return headers;
}

/**
 * UTF-8, without a leading byte order mark (as undici's `body.text()`). All-ASCII text (JSON escapes
 * everything else as \uXXXX by default, and embedding replies are digits) is copied byte for byte: the same
 * string, in under half the time of decoding UTF-8 (a 2 MB packed embedding reply: 0.6 against 1.3 ms).
 */
function decodeBody(chunks: readonly Buffer[], length: number): string {
  if (length === 0) return "";
  const buffer = chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, length);
  if (isAscii(buffer)) return buffer.toString("latin1");
  const start = buffer.length > 2 && buffer[0] === 0xef && buffer[1] === 0xbb && buffer[2] === 0xbf ? 3 : 0;
  return buffer.toString("utf8", start);
}
