import { TranslationError } from "./translation-error.ts";

/**
 * Gemini's `outputDimensionality` for a vector from an engine that may ignore OpenAI's `dimensions`.
 * Longer vectors are truncated and L2-renormalised (Matryoshka-style: the leading components carry the
 * most information, and cosine/dot-product users expect unit length again). A shorter vector cannot be
 * padded without inventing data, so it is an error naming `param`.
 */
export function fitEmbeddingDimension(values: readonly number[], dimension: number, param = "request.outputDimensionality"): number[] {
  if (!Number.isInteger(dimension) || dimension <= 0) {
    throw new TranslationError(`outputDimensionality must be a positive integer, got ${dimension}.`, param);
  }
  if (values.length === dimension) return [...values];
  if (values.length < dimension) {
    throw new TranslationError(`outputDimensionality ${dimension} is larger than this model's embeddings (${values.length} dimensions).`, param);
  }
  const truncated = values.slice(0, dimension);
  const norm = Math.sqrt(truncated.reduce((sum, value) => sum + value * value, 0));
  // An all-zero prefix has no direction to keep; return it as is rather than dividing by zero.
  return norm === 0 ? truncated : truncated.map((value) => value / norm);
}
