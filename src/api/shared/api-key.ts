/**
 * API keys as clients of every dialect send them: the openai SDK (and the Anthropic SDK from 1.x) uses
 * `Authorization: Bearer`, the genai SDK `x-goog-api-key`, older Anthropic SDKs and curl `x-api-key`, and REST
 * examples for Gemini `?key=`.
 */
import { createHash, timingSafeEqual } from "node:crypto";
import type { FastifyRequest } from "fastify";

export function presentedApiKey(request: FastifyRequest): string | null {
  const authorization = request.headers.authorization;
  if (typeof authorization === "string") {
    const match = /^Bearer\s+(.+)$/i.exec(authorization.trim());
    if (match?.[1]) return match[1].trim();
  }
  for (const header of ["x-goog-api-key", "x-api-key"]) {
    const value = request.headers[header];
    if (typeof value === "string" && value.length > 0) return value;
  }
  const query = request.query as Record<string, unknown> | undefined;
  const key = query?.key;
  return typeof key === "string" && key.length > 0 ? key : null;
}

/** Compares digests so the time taken does not reveal how much of a key matched. */
export function makeApiKeyCheck(keys: readonly string[]): (presented: string) => boolean {
  const digest = (value: string): Buffer => createHash("sha256").update(value).digest();
  const expected = keys.map(digest);
  return (presented) => {
    const candidate = digest(presented);
    let found = false;
    for (const key of expected) found = timingSafeEqual(key, candidate) || found;
    return found;
  };
}
