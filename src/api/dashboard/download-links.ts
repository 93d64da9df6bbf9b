/**
 * Links that download a File straight to disk from the dashboard. A browser following a link cannot send
 * an Authorization header, and an API key in the URL would end up in histories and logs; so the page asks
 * (with its key) for a link signed with that key, valid for a minute: HMAC-SHA256 over the File id and the
 * expiry, keyed by the key's SHA-256 digest (what the Store keeps), and naming the Store key that signed it
 * (`by`, empty for a key of the config file). Any process of the deployment can check it; the signer must
 * still be allowed to see the File (its tenant's, or an admin). Without keys downloads are as open as the
 * rest of the API.
 */
import { createHmac, timingSafeEqual } from "node:crypto";
import type { Caller } from "../../core/tenancy.ts";

export const DOWNLOAD_LINK_MS = 60_000;

export function signDownload(fileId: string, expiresAtMs: number, keyDigest: string): string {
  return createHmac("sha256", keyDigest).update(`${fileId}.${expiresAtMs}`).digest("hex");
}

/** The Caller whose key signed the link, or null when no candidate did (or it expired). */
export function downloadSigner(signers: readonly { digest: string; caller: Caller }[], fileId: string, expiresAtMs: number, signature: string, nowMs: number): Caller | null {
  if (!Number.isFinite(expiresAtMs) || expiresAtMs < nowMs || !/^[0-9a-f]{64}$/.test(signature)) return null;
  const given = Buffer.from(signature, "hex");
  let signer: Caller | null = null;
  for (const candidate of signers) {
    if (timingSafeEqual(Buffer.from(signDownload(fileId, expiresAtMs, candidate.digest), "hex"), given) && signer === null) signer = candidate.caller;
  }
  return signer;
}
