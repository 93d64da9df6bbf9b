/**
 * The admin HTTP API at `/admin/v1` (issue 13): tenants with their usage and quotas, and API keys (created,
 * listed, revoked) — what `spool keys` does, for a running deployment. Admin keys only; a member key gets 403.
 * Errors use the dashboard's JSON envelope (`{"error": {"code", "message", "param", "requestId"}}`).
 *
 *   GET    /admin/v1/tenants                 every tenant: usage (files, stored bytes, queued Items,
 *                                            Batches in progress) and the quotas in force
 *   GET    /admin/v1/tenants/:name           one tenant
 *   PUT    /admin/v1/tenants/:name/quotas    set the Store's quotas for it (body: quotas, or null to clear)
 *   GET    /admin/v1/keys[?tenant=NAME]      keys (id, tenant, role, first characters; never the key)
 *   POST   /admin/v1/keys                    {"tenant", "role"?} -> the new key, shown this once
 *   DELETE /admin/v1/keys/:id                revoke
 */
import type { FastifyInstance } from "fastify";
import { z } from "zod";
import type { AppContext } from "../../app-context.ts";
import { quotasSchema } from "../../config/config.ts";
import { AppError } from "../../core/errors.ts";
import type { ApiKeyRecord } from "../../core/tenancy.ts";
import { toDashboardErrorReply } from "../dashboard/errors.ts";
import { callerOf, requireAdmin } from "../shared/caller.ts";
import type { DialectSurface } from "../shared/dialect-surface.ts";

export const ADMIN_PREFIX = "/admin/v1";

const createKeySchema = z.strictObject({ tenant: z.string().min(1), role: z.enum(["admin", "member"]).optional() });
const quotasBodySchema = quotasSchema.nullable();
const keysQuerySchema = z.object({ tenant: z.string().min(1).optional() });

type NameParams = { Params: { name: string } };
type IdParams = { Params: { id: string } };

export function adminSurface(): DialectSurface {
  return { name: "admin", prefix: ADMIN_PREFIX, toErrorReply: toDashboardErrorReply, register: registerAdminRoutes };
}

async function registerAdminRoutes(app: FastifyInstance, ctx: AppContext): Promise<void> {
  app.addHook("preHandler", async (request) => requireAdmin(callerOf(request)));

  app.get("/tenants", async () => ({ data: await ctx.tenants.overviews() }));
  app.get<NameParams>("/tenants/:name", async (request) => {
    const overview = (await ctx.tenants.overviews()).find((overview) => overview.tenant === request.params.name);
    if (overview === undefined) throw new AppError("not_found", `No tenant '${request.params.name}'.`, { param: "name" });
    return overview;
  });
  app.put<NameParams>("/tenants/:name/quotas", async (request) => ctx.tenants.setQuotas(request.params.name, parse(quotasBodySchema, request.body ?? null, "body")));

  app.get("/keys", async (request) => ({ data: (await ctx.tenants.listKeys(parse(keysQuerySchema, request.query, "query").tenant)).map(keyJson) }));
  app.post("/keys", async (request, reply) => {
    const body = parse(createKeySchema, request.body, "body");
    const { key, record } = await ctx.tenants.createKey({ tenant: body.tenant, role: body.role });
    return reply.code(201).send({ ...keyJson(record), key });
  });
  app.delete<IdParams>("/keys/:id", async (request) => keyJson(await ctx.tenants.revokeKey(request.params.id)));
}

function keyJson(record: ApiKeyRecord): Record<string, unknown> {
  return { id: record.id, tenant: record.tenant, role: record.role, hint: record.hint, createdAtMs: record.createdAtMs, revokedAtMs: record.revokedAtMs };
}

function parse<T extends z.ZodType>(schema: T, value: unknown, where: string): z.infer<T> {
  const parsed = schema.safeParse(value);
  if (parsed.success) return parsed.data;
  const issue = parsed.error.issues[0];
  const param = issue?.path.join(".") || null;
  throw new AppError("invalid_request", `Invalid ${where}${param ? ` field '${param}'` : ""}: ${issue?.message ?? "not valid"}.`, { param });
}
