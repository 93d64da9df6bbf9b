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

/** Runs Fastify's callback-style JSON parser (prototype-poisoning safe) as a promise. */
export function parseWith(parser: FastifyJsonParser, request: FastifyRequest, text: string): Promise<unknown> {
  return new Promise((resolve, reject) => {
    parser(request, text, (error, value) => (error ? reject(error) : resolve(value)));
  });
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
 */
export async function parseJsonBody(
  request: FastifyRequest,
  parser: FastifyJsonParser,
  limit: number,
  invalid: (text: string, cause: unknown) => Error,
): Promise<unknown> {
  const text = await readJsonBodyText(request, limit);
  if (text.trim().length === 0) return undefined;
  const tooDeep = jsonBodyNestingError(text);
  if (tooDeep) throw tooDeep;
  let value: unknown;
  try {
    value = await parseWith(parser, request, text);
  } catch (error) {
    throw invalid(text, error);
  }
  keepJsonText(value, text);
  return value;
}
