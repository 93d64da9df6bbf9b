import { randomBytes } from "node:crypto";

const ALPHABET = "0123456789abcdefghijklmnopqrstuvwxyz";

/**
 * Cryptographic random bytes drawn from a 4 KiB pool (as crypto.randomUUID does): one system call per ~200
 * tokens instead of one per token, which a request id for every sync request made 1.5 % of spool's CPU.
 */
const POOL_BYTES = 4_096;
let pool = Buffer.alloc(0);
let poolUsed = 0;

function pooledRandomBytes(length: number): Buffer {
  if (poolUsed + length > pool.length) {
    pool = randomBytes(Math.max(POOL_BYTES, length));
    poolUsed = 0;
  }
  poolUsed += length;
  return pool.subarray(poolUsed - length, poolUsed);
}

/**
 * Random lower-case base-36 token. Lower-case alphanumerics because Gemini file and batch names must match
 * `[a-z0-9-]` and the openai SDK leaves them unencoded; 24 chars ≈ 124 bits.
 */
export function randomToken(length = 24): string {
  const bytes = pooledRandomBytes(length);
  let out = "";
  for (const byte of bytes) out += ALPHABET[byte % 36];
  return out;
}

/** Width of the time part of a sortable token: base 36 milliseconds, 9 digits until the year 5188. */
const TIME_DIGITS = 9;

/**
 * A token that sorts by creation time: the clock's milliseconds in base 36, then random digits (15, about
 * 77 bits, so 24 characters as before). Batch ids key every Item row (`items` and `item_requests` are
 * keyed by (batch_id, idx)): with random ids a new Batch's Items went into the middle of both b-trees,
 * splitting pages all over them; with ids that grow they append at the end (decision 0052).
 */
export function sortableToken(nowMs = Date.now()): string {
  return nowMs.toString(36).padStart(TIME_DIGITS, "0") + randomToken(24 - TIME_DIGITS);
}

export const newFileId = (): string => `file-${sortableToken()}`;
export const newBatchId = (): string => `batch_${sortableToken()}`;
