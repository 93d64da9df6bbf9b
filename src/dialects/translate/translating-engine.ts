/**
 * The wrapper that lets one Engine serve every dialect. A request in the Engine's native dialect passes
 * straight through, untouched; a request in another dialect is translated in (dialect-pairs.ts), executed as
 * a native request, and its reply (or error body) translated back, keeping usage, status and retry decisions.
 *
 * A request that cannot be expressed natively fails here, before any upstream call, as an EngineError
 * of kind "unsupported" (400, not retryable) with a body in the request's dialect naming the field: a
 * per-Item error, never a crash of the Batch and never a silently different request.
 *
 * Streams (Engine.stream) translate the request the same way and each chunk with a translator kept for
 * the stream (stream-translation.ts); a failure mid-stream gets its body in the request's dialect.
 *
 * Media references (a part naming a File spool holds) are resolved around translation when a MediaFiles is
 * given (media-resolution.ts): the bytes inlined, or, for an Engine that keeps files itself, uploaded once.
 *
 * Packs (Engine.packKey / executePack) translate the same way, member by member: the key is the inner
 * Engine's key for the translated body, so a Gemini embedding Batch on an `openai` Model packs into one
 * `input: [...]` call and each member's reply is translated back against its own request (its own
 * outputDimensionality). A member whose body cannot be translated gets no key and runs alone, failing
 * with its own 400; a member whose reply cannot be translated fails alone.
 */
import type { Dialect, RequestKind } from "../../core/types.ts";
import { EngineError, type Engine, type EnginePack, type EngineReply, type EngineRequest, type EngineStream, type PackCandidate, type PackKey } from "../../core/engine.ts";
import { translateReply, translateRequest } from "./dialect-pairs.ts";
import { errorBodyIn, toDialectErrorBody } from "./error-bodies.ts";
import type { JsonObject } from "./json-fields.ts";
import { TranslationError } from "./translation-error.ts";
import { streamingBody, translateStream } from "./stream-translation.ts";
import type { MediaFiles } from "../../core/media.ts";
import { prepareMedia } from "./media-resolution.ts";

/** Without `media`, references to spool's Files are not resolved (they fail as untranslatable parts). */
export function withTranslation(engine: Engine, media?: MediaFiles): Engine {
  return new TranslatingEngine(engine, media ?? null);
}

class TranslatingEngine implements Engine {
  readonly name: string;
  readonly dialect: Dialect;

  private readonly translatedBodies = new WeakMap<JsonObject, JsonObject | null>();

  constructor(
    private readonly inner: Engine,
    private readonly media: MediaFiles | null,
  ) {
    this.name = inner.name;
    this.dialect = inner.dialect;
  }

  async execute(request: EngineRequest): Promise<EngineReply> {
    const native = await this.nativeRequest(request);
    if (native === request) return this.inner.execute(request);
    const kind = request.kind;
    if (kind === "moderation") throw this.noModerations(request);
    let reply: EngineReply;
    try {
      reply = await this.inner.execute(native);
    } catch (error) {
      throw translatedError(error, request.dialect);
    }
    return this.replyIn(request.dialect, kind, reply, { modelName: request.model.name, request: request.body });
  }

  async stream(request: EngineRequest): Promise<EngineStream> {
    if (this.inner.stream === undefined) {
      throw new EngineError({ kind: "unsupported", message: `Model '${request.model.name}' (engine ${this.name}) cannot stream replies.`, statusCode: 400, retryable: false });
    }
    const native = await this.nativeRequest(request);
    if (native === request) return this.inner.stream(request);
    if (request.dialect === this.inner.dialect) return this.inner.stream(native);
    let opened: EngineStream;
    try {
      opened = await this.inner.stream({ ...native, body: streamingBody(this.inner.dialect, native.body) });
    } catch (error) {
      throw translatedError(error, request.dialect);
    }
    const chunks = translateStream(this.inner.dialect, request.dialect, opened.chunks, {
      modelName: request.model.name,
      request: request.body,
      failure: (error) => translatedError(error, request.dialect),
    });
    return { requestId: opened.requestId, chunks };
  }

  packKey(request: PackCandidate): PackKey | null {
    if (this.inner.packKey === undefined || this.inner.executePack === undefined) return null;
    if (request.dialect === this.inner.dialect) return this.inner.packKey(request);
    const body = this.nativeBody(request.dialect, request.body);
    return body === null ? null : this.inner.packKey({ ...request, dialect: this.inner.dialect, body });
  }

  async executePack(pack: EnginePack): Promise<(EngineReply | EngineError)[]> {
    if (this.inner.executePack === undefined) throw new Error(`Engine '${this.name}' cannot execute packs.`);
    if (pack.dialect === this.inner.dialect) return this.inner.executePack(pack);
    const bodies = pack.bodies.map((body) => this.translate(pack.dialect, () => this.nativeBody(pack.dialect, body) ?? translateRequest(pack.dialect, this.inner.dialect, "embedding", body)));
    let results: (EngineReply | EngineError)[];
    try {
      results = await this.inner.executePack({ ...pack, dialect: this.inner.dialect, bodies });
    } catch (error) {
      throw translatedError(error, pack.dialect);
    }
    return results.map((result, index) => {
      if (result instanceof EngineError) return translatedEngineError(result, pack.dialect);
      try {
        return this.replyIn(pack.dialect, "embedding", result, { modelName: pack.model.name, request: pack.bodies[index] ?? {} });
      } catch (error) {
        if (error instanceof EngineError) return error;
        throw error;
      }
    });
  }

  close(): Promise<void> {
    return this.inner.close();
  }

  /**
   * `request` as the inner Engine takes it: translated, with media references resolved; `request` itself
   * when it is already native and names no File.
   */
  private async nativeRequest(request: EngineRequest): Promise<EngineRequest> {
    const media = this.media === null ? null : await prepareMedia(this.media, request);
    const same = request.dialect === this.inner.dialect;
    if (same && media === null) return request;
    const source = media?.body ?? request.body;
    const kind = request.kind;
    if (!same && kind === "moderation") throw this.noModerations(request);
    const body = same || kind === "moderation" ? source : this.translate(request.dialect, () => translateRequest(request.dialect, this.inner.dialect, kind, source));
    const native = { ...request, dialect: this.inner.dialect, body };
    if (media === null) return native;
    try {
      return { ...native, body: await media.fill(body, this.inner, native) };
    } catch (error) {
      throw translatedError(error, request.dialect);
    }
  }

  /**
   * `body` translated into the inner dialect, remembered so executePack does not translate it twice;
   * null when it cannot be translated (it then runs alone and fails there with its own error).
   */
  private nativeBody(dialect: Dialect, body: JsonObject): JsonObject | null {
    const known = this.translatedBodies.get(body);
    if (known !== undefined) return known;
    let native: JsonObject | null;
    try {
      native = translateRequest(dialect, this.inner.dialect, "embedding", body);
    } catch (error) {
      if (!(error instanceof TranslationError)) throw error;
      native = null;
    }
    this.translatedBodies.set(body, native);
    return native;
  }

  /** A native reply re-expressed in `dialect` (an error reply keeps its status with the body translated). */
  private replyIn(dialect: Dialect, kind: RequestKind, reply: EngineReply, options: { modelName: string; request: JsonObject }): EngineReply {
    if (reply.statusCode < 200 || reply.statusCode >= 300) {
      return { ...reply, body: toDialectErrorBody(dialect, reply.statusCode, reply.body) };
    }
    return { ...reply, body: this.translate(dialect, () => translateReply(this.inner.dialect, dialect, kind, reply.body, options)) };
  }

  /** Moderations exist in the OpenAI dialect only: an Engine of another dialect has nothing to translate them to. */
  private noModerations(request: EngineRequest): EngineError {
    const message = `Model '${request.model.name}' (engine ${this.name}) cannot serve /v1/moderations: only a model on an openai engine, whose upstream has /v1/moderations, can.`;
    return new EngineError({ kind: "unsupported", message, statusCode: 400, body: errorBodyIn(request.dialect, 400, message, "model"), retryable: false });
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
  return error instanceof EngineError ? translatedEngineError(error, dialect) : error;
}

function translatedEngineError(error: EngineError, dialect: Dialect): EngineError {
  if (error.statusCode === null || error.body === undefined) return error;
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
