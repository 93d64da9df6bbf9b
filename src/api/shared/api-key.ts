/**
 * API keys as clients of every dialect send them: the openai SDK (and the Anthropic SDK from 1.x) uses
 * `Authorization: Bearer`, the genai SDK `x-goog-api-key`, older Anthropic SDKs and curl `x-api-key`, and REST
 * examples for Gemini `?key=`. Which tenant a key belongs to is the Tenant service's (src/batches/tenant-service.ts).
 */
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
