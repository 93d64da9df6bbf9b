/**
 * Links that download a File straight to disk from the dashboard. A browser following a link cannot send
 * an Authorization header, and an API key in the URL would end up in histories and logs; so the page asks
 * (with its key) for a link signed with that key, valid for a minute: HMAC-SHA256 over the File id and the
 * expiry. Any process of the deployment can check it (every process has the keys); without keys configured
 * downloads are as open as the rest of the API.
 */
import { createHmac, timingSafeEqual } from "node:crypto";

export const DOWNLOAD_LINK_MS = 60_000;

export function signDownload(fileId: string, expiresAtMs: number, key: string): string {
  return createHmac("sha256", key).update(`${fileId}.${expiresAtMs}`).digest("hex");
}

export function downloadAllowed(keys: readonly string[], fileId: string, expiresAtMs: number, signature: string, nowMs: number): boolean {
  if (keys.length === 0) return true;
  if (!Number.isFinite(expiresAtMs) || expiresAtMs < nowMs || !/^[0-9a-f]{64}$/.test(signature)) return false;
  const given = Buffer.from(signature, "hex");
  let allowed = false;
  for (const key of keys) allowed = timingSafeEqual(Buffer.from(signDownload(fileId, expiresAtMs, key), "hex"), given) || allowed;
  return allowed;
}
