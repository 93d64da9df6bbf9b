/**
 * JSON request bodies, shared by every dialect's body parser: read through readBody (idle deadline, size
 * limit enforced on bytes seen, the connection left able to deliver a 413), and checked for nesting on
 * the raw text before parsing.
 */
import { errorCodes, type FastifyRequest } from "fastify";
import { AppError } from "../../core/errors.ts";
import { keepJsonText } from "../../core/json.ts";
import { describeNesting, findExcessiveNesting, MAX_JSON_NESTING } from "../../core/json-nesting.ts";
import { readBody } from "./request-body.ts";

/** The body's chunks as they arrive; a FST_ERR_CTP_BODY_TOO_LARGE (which every dialect maps to 413) past `limit`. */
export async function* readBodyWithin(request: FastifyRequest, limit: number): AsyncGenerator<Buffer> {
  if (Number(request.headers["content-length"]) > limit) throw new errorCodes.FST_ERR_CTP_BODY_TOO_LARGE();
  let size = 0;
  for await (const chunk of readBody(request)) {
    size += chunk.length;
    if (size > limit) throw new errorCodes.FST_ERR_CTP_BODY_TOO_LARGE();
    yield chunk;
  }
}

/** The whole body as text (see readBodyWithin). */
export async function readJsonBodyText(request: FastifyRequest, limit: number): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of readBodyWithin(request, limit)) {
    size += chunk.length;
    chunks.push(chunk);
  }
  return Buffer.concat(chunks, size).toString("utf8");
}

type FastifyJsonParser = (request: FastifyRequest, body: string, done: (error: Error | null, value?: unknown) => void) => void;

/**
 * Runs Fastify's default JSON parser (prototype-poisoning safe), callback-style but synchronous (a
 * JSON.parse), so the body is parsed in the tick it is read. Should a Fastify upgrade make it answer later,
 * requests fail loudly here (and every JSON test with them) rather than wait.
 */
function parseWith(parser: FastifyJsonParser, request: FastifyRequest, text: string): { error: Error | null; value?: unknown } {
  let answered: { error: Error | null; value?: unknown } | null = null;
  parser(request, text, (error, value) => (answered = { error, value }));
  if (answered === null) throw new Error("Fastify's JSON parser did not answer synchronously; src/api/shared/json-body.ts relies on it.");
  return answered;
}

/**
 * Why `text` was refused by Fastify's parser, whose own error says neither what nor where: JSON.parse's
 * message when the text is not JSON, else the prototype-poisoning rule it broke. Failure path only.
 */
export function jsonErrorDetail(text: string): string {
  try {
    JSON.parse(text);
  } catch (error) {
    return (error as Error).message;
  }
  return "it contains a \"__proto__\" or \"constructor.prototype\" key, which spool refuses";
}

/** The error for a body nested past MAX_JSON_NESTING (src/core/json-nesting.ts says why), or null. */
export function jsonBodyNestingError(text: string): AppError | null {
  const found = findExcessiveNesting(text);
  if (!found) return null;
  return new AppError(
    "invalid_request",
    `The request body nests JSON deeper than ${MAX_JSON_NESTING} levels${describeNesting(found)}; spool accepts at most ${MAX_JSON_NESTING} levels of objects and arrays.`,
    { param: found.path === "" ? null : found.path },
  );
}

/**
 * A JSON request body: read within `limit`, none when empty, the nesting limit checked on the raw text, then
 * parsed by Fastify's (prototype-poisoning-safe) parser, its text kept (core/json.ts keepJsonText) so a body
 * passed on unchanged goes upstream as the client's bytes. `invalid` words the dialect's error for text that
 * does not parse.
 *
 * A body that has all arrived by the time its route parses it (a small one comes with its headers) is read
 * from the request's buffer and parsed without reader generators or promises (issue 11). It answers through
 * `done`, Fastify's content-type parser callback.
 */
export function parseJsonBody(
  request: FastifyRequest,
  parser: FastifyJsonParser,
  limit: number,
  invalid: (text: string, cause: unknown) => Error,
  done: (error: Error | null, value?: unknown) => void,
): void {
  const parse = (text: string): void => settle(() => parseJsonText(request, parser, text, invalid), done);
  /** True when the body was all there (and `done` is called or will be). */
  const parseBuffered = (): boolean => {
    let buffered: string | null;
    try {
      buffered = bufferedBodyText(request, limit);
    } catch (error) {
      done(error as Error);
      return true;
    }
    if (buffered !== null) parse(buffered);
    return buffered !== null;
  };
  if (parseBuffered()) return;
  // The server's hooks answer at once, so this runs in the callback of the request's headers, before Node's
  // HTTP parser goes on to the body bytes read with them (after that callback's microtasks, so only a
  // macrotask sees them): look again once this read is handled.
  setImmediate(() => {
    // As Fastify guards the parser's first call: nothing thrown here may escape to the event loop.
    try {
      if (!parseBuffered()) readJsonBodyText(request, limit).then(parse, done);
    } catch (error) {
      done(error as Error);
    }
  });
}

/** Calls `done` with what `parse` returns, or with what it throws. */
function settle(parse: () => unknown, done: (error: Error | null, value?: unknown) => void): void {
  let value: unknown;
  try {
    value = parse();
  } catch (error) {
    return done(error as Error);
  }
  done(null, value);
}

/** The whole body's text when all of it has arrived and none was read yet; null when it must be read. */
function bufferedBodyText(request: FastifyRequest, limit: number): string | null {
  const raw = request.raw;
  if (!raw.complete || raw.readableEnded || raw.readableDidRead) return null;
  if (raw.readableLength > limit) throw new errorCodes.FST_ERR_CTP_BODY_TOO_LARGE();
  const body = raw.read() as Buffer | null;
  return body === null ? "" : body.toString("utf8");
}

function parseJsonText(request: FastifyRequest, parser: FastifyJsonParser, text: string, invalid: (text: string, cause: unknown) => Error): unknown {
  if (text.trim().length === 0) return undefined;
  const tooDeep = jsonBodyNestingError(text);
  if (tooDeep) throw tooDeep;
  const { error, value } = parseWith(parser, request, text);
  if (error) throw invalid(text, error);
  keepJsonText(value, text);
  return value;
}
