/**
 * The Caller of a request (src/core/tenancy.ts), set by the authentication hook of the HTTP server before any
 * route runs, and the lookups every route makes through it: another tenant's File or Batch is answered
 * exactly as one that does not exist (the caller gets null, and the route its usual not-found error).
 */
import type { FastifyInstance, FastifyRequest } from "fastify";
import type { AppContext } from "../../app-context.ts";
import { AppError } from "../../core/errors.ts";
import { canSee, OPEN_CALLER, type Caller } from "../../core/tenancy.ts";
import type { Batch, FileRecord } from "../../core/types.ts";
import { presentedApiKey } from "./api-key.ts";

declare module "fastify" {
  interface FastifyRequest {
    /** Who sent the request; null only on public paths (health, the dashboard's page). */
    caller: Caller | null;
  }
}

export function callerOf(request: FastifyRequest): Caller {
  // Routes behind authentication always have one; reaching here without is a wiring bug, refused safely.
  if (request.caller === null) throw new AppError("unauthenticated", "No API key was sent.");
  return request.caller;
}

/** The File `id` if the caller may see it, else null (as for a missing one). */
export async function visibleFile(ctx: AppContext, caller: Caller, id: string): Promise<FileRecord | null> {
  const file = await ctx.store.getFile(id);
  return file !== null && canSee(caller, file.tenant) ? file : null;
}

/** The Batch `id` if the caller may see it, else null (as for a missing or deleted one). */
export async function visibleBatch(ctx: AppContext, caller: Caller, id: string): Promise<Batch | null> {
  const batch = await ctx.batches.get(id);
  return batch !== null && canSee(caller, batch.tenant) ? batch : null;
}

/**
 * Whose Files a sync request of `request`'s caller may name in its media parts (EngineRequest.owner): its
 * own tenant's, or any for an admin (as admins see every File).
 */
export function fileOwnerOf(request: FastifyRequest): string | null {
  const caller = callerOf(request);
  return caller.role === "admin" ? null : caller.tenant;
}

export function requireAdmin(caller: Caller): void {
  if (caller.role !== "admin") throw new AppError("permission_denied", "This operation needs an admin key; the key sent is a member key of tenant '" + caller.tenant + "'.");
}

/**
 * Adds the authentication hook: with any key configured (config file or Store), every path but the public
 * ones needs a valid key; without keys, every request acts as the default tenant's admin (spool open on
 * loopback, as before tenants). The key itself is never logged.
 */
export function addAuthentication(app: FastifyInstance, ctx: AppContext, isPublic: (path: string) => boolean, pathOf: (url: string) => string): void {
  app.decorateRequest("caller", null);
  // Fastify's callback form, not an async hook: with the answers remembered (TenantService) the request
  // goes on in the same tick, without a promise per request (issue 11).
  app.addHook("onRequest", (request, _reply, done) => {
    if (isPublic(pathOf(request.url))) return done();
    const settle = (caller: Caller): void => {
      request.caller = caller;
      done();
    };
    const required = ctx.tenants.authRequired();
    if (required === true) return identify(request, ctx, settle, done);
    if (required === false) return settle(OPEN_CALLER);
    required.then((needed) => (needed ? identify(request, ctx, settle, done) : settle(OPEN_CALLER)), done);
  });
}

/**
 * Finds the Caller of the key `request` presents; an error for none or an unknown one. Never throws: it may
 * run in a promise's callback, where a throw would leave the request unanswered.
 */
function identify(request: FastifyRequest, ctx: AppContext, settle: (caller: Caller) => void, fail: (error: Error) => void): void {
  let caller: Caller | null | Promise<Caller | null>;
  try {
    const key = presentedApiKey(request);
    if (key === null) {
      return fail(new AppError("unauthenticated", "No API key was sent. Send it as 'Authorization: Bearer <key>', 'x-api-key: <key>', 'x-goog-api-key: <key>' or '?key=<key>'."));
    }
    caller = ctx.tenants.authenticate(key);
  } catch (error) {
    return fail(error as Error);
  }
  const known = (found: Caller | null): void => (found === null ? fail(new AppError("unauthenticated", "Incorrect API key provided.")) : settle(found));
  if (caller === null || !(caller instanceof Promise)) return known(caller);
  caller.then(known, fail);
}
