/**
 * Embedding vectors as OpenAI returns them: unit length (L2-normalised, so a dot product is the cosine
 * similarity), optionally shortened to `dimensions` first (Matryoshka-style truncation, then renormalised),
 * as a number array or as base64 of little-endian float32.
 */

export function normalizedPrefix(vector: readonly number[], dimensions: number | undefined): number[] {
  const kept = dimensions === undefined ? [...vector] : vector.slice(0, dimensions);
  let sumOfSquares = 0;
  for (const value of kept) sumOfSquares += value * value;
  const norm = Math.sqrt(sumOfSquares);
  return norm === 0 || !Number.isFinite(norm) ? kept : kept.map((value) => value / norm);
}

export function toBase64Float32(vector: readonly number[]): string {
  const bytes = Buffer.alloc(vector.length * 4);
  vector.forEach((value, index) => bytes.writeFloatLE(value, index * 4));
  return bytes.toString("base64");
}

export function toEmbeddingData(vector: readonly number[], dimensions: number | undefined, encoding: "float" | "base64"): number[] | string {
  const normalized = normalizedPrefix(vector, dimensions);
  return encoding === "base64" ? toBase64Float32(normalized) : normalized;
}
