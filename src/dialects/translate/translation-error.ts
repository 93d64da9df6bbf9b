/**
 * A request (or reply) that cannot be expressed in the other dialect. Thrown by the pure translation
 * functions; `withTranslation` turns it into a per-Item EngineError (kind "unsupported", 400) with a body in
 * the request's dialect, so the Item fails with a message naming the field instead of silently losing it.
 */
export class TranslationError extends Error {
  /** Field path in the request's dialect: `request.generationConfig.responseModalities`, `messages[2].content`. */
  readonly param: string | null;

  constructor(message: string, param: string | null = null) {
    super(message);
    this.name = "TranslationError";
    this.param = param;
  }
}
