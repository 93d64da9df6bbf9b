/**
 * `Idempotency-Key` on Batch create (issue 13): what a route adds to its CreateBatchCommand so the Batch
 * service can answer a retried create with the Batch the first one made. The digest covers the method, the
 * path (Gemini's model is in it) and the body as sent, so the same key with other parameters is refused.
 */
import { createHash, type Hash } from "node:crypto";
import type { FastifyRequest } from "fastify";
import type { CreateBatchCommand } from "../../batches/batch-service.ts";
import { AppError } from "../../core/errors.ts";
import { callerOf } from "./caller.ts";
import { pathOf } from "./url-path.ts";

const KEY_PATTERN = /^[\x21-\x7e]{1,255}$/;

/** A digest of a create request, fed with its body as it is read (an inline body may stream). */
export class RequestDigest {
  private readonly hash: Hash;
  private value: string | null = null;

  constructor(request: FastifyRequest) {
    this.hash = createHash("sha256").update(`${request.method} ${pathOf(request.url)}\n`);
  }

  add(text: string): void {
    if (this.value === null) this.hash.update(text).update("\n");
  }

  digest(): string {
    this.value ??= this.hash.digest("hex");
    return this.value;
  }
}

/**
 * The owner and idempotency of a create: the caller's tenant, and, when the client sent `Idempotency-Key`,
 * the key with `digest` (fed by the route; for a parsed JSON body, pass it as `body`).
 */
export function createOwnership(request: FastifyRequest, digest: RequestDigest, body?: unknown): Pick<CreateBatchCommand, "tenant" | "idempotency"> {
  const tenant = callerOf(request).tenant;
  const raw = request.headers["idempotency-key"];
  if (raw === undefined) return { tenant };
  const key = Array.isArray(raw) ? raw[0] : raw;
  if (key === undefined || !KEY_PATTERN.test(key)) {
    throw new AppError("invalid_request", "The Idempotency-Key header must be 1 to 255 visible ASCII characters (a UUID is typical).", { param: "Idempotency-Key" });
  }
  if (body !== undefined) digest.add(JSON.stringify(body));
  return { tenant, idempotency: { key, digest: () => digest.digest() } };
}
