/**
 * CORS, off unless `corsOrigins` lists origins: then a browser page from one of them may call the API (the
 * preflight is answered before authentication, which a preflight never carries). Any other origin gets no
 * CORS headers, so a page elsewhere cannot read replies made with a key the browser holds.
 */
import type { FastifyInstance } from "fastify";

const ALLOWED_HEADERS = "authorization, content-type, x-api-key, x-goog-api-key, idempotency-key, anthropic-version, x-goog-upload-protocol, x-goog-upload-command, x-goog-upload-offset, x-goog-upload-header-content-length, x-goog-upload-header-content-type";

export function addCors(app: FastifyInstance, origins: readonly string[]): void {
  if (origins.length === 0) return;
  const allowed = (origin: unknown): origin is string => typeof origin === "string" && (origins.includes(origin) || origins.includes("*"));
  app.addHook("onRequest", async (request, reply) => {
    const origin = request.headers.origin;
    if (!allowed(origin)) return;
    void reply.header("access-control-allow-origin", origin).header("vary", "origin").header("access-control-expose-headers", "x-request-id, x-goog-upload-url, x-goog-upload-status");
    if (request.method === "OPTIONS" && request.headers["access-control-request-method"] !== undefined) {
      return reply
        .code(204)
        .header("access-control-allow-methods", "GET, POST, DELETE, PUT, OPTIONS")
        .header("access-control-allow-headers", ALLOWED_HEADERS)
        .header("access-control-max-age", "600")
        .send();
    }
  });
}
