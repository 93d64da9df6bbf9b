/**
 * API keys: made here, stored only as their SHA-256 digest (decision 0021). A key is 40 random characters
 * from a 36-letter alphabet (about 206 bits), so an unsalted digest cannot be reversed by guessing, and the
 * Store can find a key by equality on its digest without ever holding the key.
 */
import { createHash } from "node:crypto";
import { randomToken } from "./ids.ts";

const KEY_PREFIX = "spool_";
/** Characters of a key shown in lists: the prefix and a few random ones, far too few to guess the rest. */
const HINT_LENGTH = KEY_PREFIX.length + 4;

export const newApiKey = (): string => `${KEY_PREFIX}${randomToken(40)}`;
export const newApiKeyId = (): string => `key_${randomToken(16)}`;

/** Lower-case hex SHA-256 of a presented or new key. */
export function apiKeyDigest(key: string): string {
  return createHash("sha256").update(key, "utf8").digest("hex");
}

export function apiKeyHint(key: string): string {
  return `${key.slice(0, HINT_LENGTH)}…`;
}
