import { randomBytes } from "node:crypto";

const ALPHABET = "0123456789abcdefghijklmnopqrstuvwxyz";

/**
 * Random lower-case base-36 token. Lower-case alphanumerics because Gemini file and batch names must match
 * `[a-z0-9-]` and the openai SDK leaves them unencoded; 24 chars ≈ 124 bits.
 */
export function randomToken(length = 24): string {
  const bytes = randomBytes(length);
  let out = "";
  for (const byte of bytes) out += ALPHABET[byte % 36];
  return out;
}

export const newFileId = (): string => `file-${randomToken()}`;
export const newBatchId = (): string => `batch_${randomToken()}`;
