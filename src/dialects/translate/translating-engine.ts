/**
 * The wrapper that lets one Engine serve both dialects. A request in the Engine's native dialect passes
 * straight through, untouched; a request in the other dialect is translated in, executed as a native
 * request, and its reply (or error body) translated back, keeping usage, status and retry decisions.
 *
 * A request that cannot be expressed natively fails here, before any upstream call, as an EngineError
 * of kind "unsupported" (400, not retryable) with a body in the request's dialect naming the field: a
 * per-Item error, never a crash of the Batch and never a silently different request.
 */
import type { Dialect, RequestKind } from "../../core/types.ts";
import { EngineError, type Engine, type EngineReply, type EngineRequest } from "../../core/engine.ts";
import { errorBodyIn, toDialectErrorBody } from "./error-bodies.ts";
import { geminiToOpenAIRequest } from "./gemini-to-openai-request.ts";
import { geminiToOpenAIResponse } from "./gemini-to-openai-response.ts";
import type { JsonObject } from "./json-fields.ts";
import { openAIToGeminiRequest } from "./openai-to-gemini-request.ts";
import { openAIToGeminiResponse } from "./openai-to-gemini-response.ts";
import { TranslationError } from "./translation-error.ts";

export function withTranslation(engine: Engine): Engine {
  return new TranslatingEngine(engine);
}

/** `body` (in `from`) as a request body in the other dialect. */
export function translateRequest(from: Dialect, kind: RequestKind, body: JsonObject): JsonObject {
  return from === "gemini" ? geminiToOpenAIRequest(kind, body) : openAIToGeminiRequest(kind, body);
}

/** A native reply body of an Engine whose dialect is not `to`, expressed in `to`. */
export function translateReply(to: Dialect, kind: RequestKind, reply: unknown, options: { modelName: string; request: JsonObject }): JsonObject {
  return to === "gemini" ? openAIToGeminiResponse(kind, reply, options) : geminiToOpenAIResponse(kind, reply, options);
}

class TranslatingEngine implements Engine {
  readonly name: string;
  readonly dialect: Dialect;

  constructor(private readonly inner: Engine) {
    this.name = inner.name;
    this.dialect = inner.dialect;
  }

  async execute(request: EngineRequest): Promise<EngineReply> {
    if (request.dialect === this.inner.dialect) return this.inner.execute(request);
    const body = this.translate(request.dialect, () => translateRequest(request.dialect, request.kind, request.body));
    let reply: EngineReply;
    try {
      reply = await this.inner.execute({ ...request, dialect: this.inner.dialect, body });
    } catch (error) {
      throw translatedError(error, request.dialect);
    }
    if (reply.statusCode < 200 || reply.statusCode >= 300) {
      return { ...reply, body: toDialectErrorBody(request.dialect, reply.statusCode, reply.body) };
    }
    const options = { modelName: request.model.name, request: request.body };
    return { ...reply, body: this.translate(request.dialect, () => translateReply(request.dialect, request.kind, reply.body, options)) };
  }

  close(): Promise<void> {
    return this.inner.close();
  }

  private translate<T>(dialect: Dialect, run: () => T): T {
    try {
      return run();
    } catch (error) {
      if (!(error instanceof TranslationError)) throw error;
      throw new EngineError({
        kind: "unsupported",
        message: error.message,
        statusCode: 400,
        body: errorBodyIn(dialect, 400, error.message, error.param),
        retryable: false,
        cause: error,
      });
    }
  }
}

/** An inner EngineError with its HTTP body re-expressed in the request's dialect; the retry decision stays. */
function translatedError(error: unknown, dialect: Dialect): unknown {
  if (!(error instanceof EngineError) || error.statusCode === null || error.body === undefined) return error;
  return new EngineError({
    kind: error.kind,
    message: error.message,
    statusCode: error.statusCode,
    body: toDialectErrorBody(dialect, error.statusCode, error.body),
    retryable: error.retryable,
    retryAfterMs: error.retryAfterMs,
    requestId: error.requestId,
    cause: error,
  });
}
