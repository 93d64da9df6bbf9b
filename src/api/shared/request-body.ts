/**
 * Reading request bodies at the edge, for every route that reads one (JSON parsers, OpenAI multipart
 * uploads, Gemini uploads), so that three things hold whatever the client does:
 *
 * - A body that stops arriving is noticed. `watchBodyIdle` gives each request a body idle deadline (the
 *   socket's inactivity timer, from when spool is ready for more bytes and only while the body is
 *   incomplete: a long engine call after the body arrived must not trip it). When it fires, the route
 *   reading the body fails with a 408 HttpEdgeError and answers it in its dialect's envelope; a body
 *   nobody is reading just loses its connection.
 * - A client that goes away or stalls is told apart from a failure of spool. `readBody` fails with a 499
 *   or 408 HttpEdgeError (mapped as client errors, logged at debug) where Node's own request iterator
 *   threw a bare `aborted` Error that the dialect mappers logged and answered as an internal error. It
 *   also stops early without destroying the request, so the rest can be discarded as below.
 * - A client still sending when we answer gets the answer. Fastify marks failed requests
 *   `Connection: close`, and Node then closes the socket right after the reply while bytes are still
 *   arriving: the kernel answers them with a reset that also discards our unread reply on the client
 *   (the EPIPE that 1 to 7 of 10 SDK calls with a too-large body saw). `settleUnreadBody` keeps the
 *   connection, reads and discards the rest (up to MAX_DISCARDED_BYTES, past which the connection is
 *   dropped), and the connection stays usable for the next request.
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import type { FastifyReply, FastifyRequest } from "fastify";
import { clientClosedRequest, HttpEdgeError, isBodyTimeout, seconds } from "./edge-errors.ts";

/** How much of a rejected body is read and thrown away so the client sees our answer. */
export const MAX_DISCARDED_BYTES = 128 * 1024 * 1024;

type IdleListener = (error: HttpEdgeError) => void;

export interface BodyTimeouts {
  bodyIdleTimeoutMs: number;
  keepAliveTimeoutMs: number;
}

/**
 * The idle deadline of one request's body. Recorded when the request arrives, armed only when a reader
 * must wait for bytes: a small body comes with its headers and is read without waiting, and arming (the
 * socket's timer, three listeners) cost about a tenth of spool's CPU per sync request (issue 11). A
 * client's idle period starts when spool is ready for its bytes in any case (onBodyIdle), so nothing fires
 * later for being armed late. A body nobody reads (refused before it was read) is left to Node's
 * keep-alive deadline, which it sets once the refusal is sent.
 */
class BodyWatch {
  /** Readers of the body alive now (readBody loops, multipart parsers), waiting for bytes or not. */
  readers = 0;
  /**
   * Readers waiting for the next bytes, the ones an idle connection really holds up; each with a test
   * for "busy after all" (a piped parser paused by a slow destination).
   */
  readonly waiting = new Map<IdleListener, () => boolean>();
  /** Set once the body failed for good; later waits fail at once. */
  error: HttpEdgeError | null = null;
  private armed = false;

  constructor(
    private readonly raw: IncomingMessage,
    private readonly response: ServerResponse,
    private readonly timeouts: BodyTimeouts,
  ) {}

  /** (Re)starts the deadline: the client has bodyIdleTimeoutMs from now to send more. */
  rearm(): void {
    if (!this.armed) this.arm();
    this.raw.socket.setTimeout(this.timeouts.bodyIdleTimeoutMs);
  }

  private arm(): void {
    this.armed = true;
    const { raw, timeouts } = this;
    const socket = raw.socket;
    // Node emits 'timeout' on the request (not only the socket) while the request is incomplete, and
    // leaves the socket alone when someone listens: this listener decides.
    const onIdle = (): void => {
      const stalled = [...this.waiting.values()].some((busy) => !busy());
      if (!stalled && (this.readers > 0 || this.waiting.size > 0)) {
        // The readers are busy (writing to slow storage): the client is not the one stalling.
        this.rearm();
        return;
      }
      const error = new HttpEdgeError(
        408,
        "request_timeout",
        `No part of the request body arrived for ${seconds(timeouts.bodyIdleTimeoutMs)}; the request was abandoned and nothing was kept. Send the body without long pauses.`,
      );
      failBody(raw, error, { dropUnread: true });
    };
    // A piped reader (the multipart parser) flowing again after spool held it up: see onBodyIdle.
    const onResume = (): void => this.rearm();
    raw.on("timeout", onIdle);
    raw.on("resume", onResume);
    raw.once("end", () => {
      raw.off("timeout", onIdle);
      raw.off("resume", onResume);
      // Back to what Node expects of this connection: no deadline while the handler runs, the keep-alive
      // one once the reply is out (Node set it at the reply and clears it at the next request).
      socket.setTimeout(this.response.writableEnded ? timeouts.keepAliveTimeoutMs : 0);
    });
  }
}

const WATCH = Symbol("spool.bodyWatch");
/** On the request itself rather than in a WeakMap, whose entries every collection must trace (decision 0034). */
type Watched = IncomingMessage & { [WATCH]?: BodyWatch };
const watchOf = (raw: IncomingMessage): BodyWatch | undefined => (raw as Watched)[WATCH];

function carriesBody(raw: IncomingMessage): boolean {
  const length = raw.headers["content-length"];
  return raw.headers["transfer-encoding"] !== undefined || (length !== undefined && length !== "0");
}

/** Gives a request with a body its idle deadline (armed once a reader waits); a no-op for requests without one. */
export function watchBodyIdle(request: FastifyRequest, reply: FastifyReply, timeouts: BodyTimeouts): void {
  const raw = request.raw;
  if (!carriesBody(raw) || raw.complete) return;
  (raw as Watched)[WATCH] = new BodyWatch(raw, reply.raw, timeouts);
}

/**
 * Makes the readers of this request's body fail with `error` (the idle deadline, Node's deadline for the
 * whole request, a body the HTTP parser gave up on); a reader that starts later fails at once. With no
 * reader at all, `dropUnread` drops the connection. False when the request has no watched body.
 */
export function failBody(raw: IncomingMessage, error: HttpEdgeError, options: { dropUnread: boolean }): boolean {
  const watch = watchOf(raw);
  if (!watch) return false;
  if (watch.error) return true;
  watch.error = error;
  const socket = raw.socket;
  if (options.dropUnread && watch.readers === 0 && watch.waiting.size === 0) {
    socket.destroy();
    return true;
  }
  for (const listener of [...watch.waiting.keys()]) listener(error);
  // The readers answer with `Connection: close`; a route that never reads must not keep the socket.
  setTimeout(() => socket.destroy(), 10_000).unref();
  return true;
}

/**
 * Registers a reader waiting for body bytes: `listener` gets the error if the body fails meanwhile;
 * `busy` tells, when the connection turns idle, whether the reader itself is what holds the bytes up.
 * Returns the unsubscribe.
 */
export function onBodyIdle(request: FastifyRequest, listener: IdleListener, busy: () => boolean = () => false): () => void {
  const watch = watchOf(request.raw);
  if (!watch) return () => undefined;
  if (watch.error) {
    const error = watch.error;
    queueMicrotask(() => listener(error));
    return () => undefined;
  }
  watch.waiting.set(listener, busy);
  // The client's idle period starts when spool is ready for its bytes. After spool was the slow side (a
  // write to slow storage while the client's bytes waited in the socket), the deadline armed meanwhile
  // could fire just as the reader caught up, before the client had resumed sending: a 408 for a client
  // that never stalled (seen once the local BlobStore took small writes without a pool hop each).
  watch.rearm();
  return () => watch.waiting.delete(listener);
}

/** Marks a reader of the body alive (busy or waiting) until the returned release is called. */
function holdBody(request: FastifyRequest): () => void {
  const watch = watchOf(request.raw);
  if (!watch) return () => undefined;
  watch.readers += 1;
  return () => {
    watch.readers -= 1;
  };
}

/**
 * The body's chunks as they arrive. Stopping early leaves the rest unread (never destroys the request);
 * fails with a 408 HttpEdgeError at the idle deadline and a 499 one when the client goes away.
 */
export async function* readBody(request: FastifyRequest): AsyncGenerator<Buffer> {
  const raw = request.raw;
  const release = holdBody(request);
  try {
    for (;;) {
      const chunk = raw.read() as Buffer | null;
      if (chunk !== null) {
        yield chunk;
        continue;
      }
      // Complete and nothing buffered: every byte was read (the parser pushes a body's bytes as it parses
      // them), so a small body that came with its headers needs no wait for 'end'.
      if (raw.readableEnded || raw.complete) return;
      await nextBodyEvent(request);
    }
  } finally {
    release();
  }
}

/** Resolves when more of the body (or its end) can be read. */
function nextBodyEvent(request: FastifyRequest): Promise<void> {
  const raw = request.raw;
  if (raw.destroyed) return Promise.reject(clientClosedRequest());
  return new Promise<void>((resolve, reject) => {
    let unsubscribe = (): void => undefined;
    const settle = (error: Error | null): void => {
      raw.off("readable", onReadable);
      raw.off("end", onReadable);
      raw.off("error", onError);
      raw.off("close", onClose);
      unsubscribe();
      if (error) reject(error);
      else resolve();
    };
    const onReadable = (): void => settle(null);
    const onError = (): void => settle(clientClosedRequest());
    const onClose = (): void => settle(raw.complete ? null : clientClosedRequest());
    raw.on("readable", onReadable);
    raw.on("end", onReadable);
    raw.on("error", onError);
    raw.on("close", onClose);
    unsubscribe = onBodyIdle(request, (error) => settle(error));
  });
}

/**
 * Called with every error reply: leaves the connection able to deliver it while the client may still be
 * sending (see the module comment). A failed body closes the connection instead: its client stalled, or
 * its bytes no longer parse.
 */
export function settleUnreadBody(request: FastifyRequest, reply: FastifyReply, error: unknown): void {
  const raw = request.raw;
  if (raw.complete || raw.destroyed) return;
  // A failed body (stalled, or bytes the HTTP parser gave up on) leaves nothing worth reading.
  const watch = watchOf(raw);
  if (isBodyTimeout(error) || watch?.error) {
    reply.header("connection", "close");
    return;
  }
  reply.removeHeader("connection");
  let discarded = 0;
  const onData = (chunk: Buffer): void => {
    discarded += chunk.length;
    if (discarded > MAX_DISCARDED_BYTES) raw.socket.destroy();
  };
  raw.on("data", onData);
  raw.once("end", () => raw.off("data", onData));
  raw.resume();
}
