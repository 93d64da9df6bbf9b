/** The dashboard API's query strings, checked with errors that name the parameter. */
import { z } from "zod";
import { AppError } from "../../core/errors.ts";
import { BATCH_STATUSES } from "../../store/store.ts";
import type { BatchStatus, Dialect } from "../../core/types.ts";

const limit = (max: number, fallback: number) => z.coerce.number().int().min(1).max(max).default(fallback);

export const batchListQuery = z.object({
  /** Comma-separated statuses. */
  status: z
    .string()
    .optional()
    .transform((value, context) => {
      if (value === undefined || value === "") return undefined;
      const statuses = value.split(",").map((status) => status.trim());
      const unknown = statuses.filter((status) => !BATCH_STATUSES.includes(status as BatchStatus));
      if (unknown.length > 0) context.addIssue({ code: "custom", message: `unknown status '${unknown[0]}': use ${BATCH_STATUSES.join(", ")}` });
      return statuses as BatchStatus[];
    }),
  dialect: z.string().min(1).optional(),
  model: z.string().min(1).optional(),
  after: z.string().min(1).optional(),
  limit: limit(200, 50),
});

export const resultsQuery = z.object({
  /** Index (0-based) of the last Item of the previous page. */
  after: z.coerce.number().int().min(-1).default(-1),
  limit: limit(200, 50),
  /** Client-id prefix to search for. */
  q: z.string().optional(),
  /** Only results with this status. */
  status: z.enum(["succeeded", "failed", "cancelled", "expired"]).optional().or(z.literal("").transform(() => undefined)),
});

export const deliveriesQuery = z.object({
  before: z.coerce.number().int().min(1).optional(),
  limit: limit(200, 50),
});

export const downloadQuery = z.object({
  expires: z.coerce.number().int().default(0),
  signature: z.string().default(""),
  /** The Store key that signed the link; empty for a key of the config file. */
  by: z.string().default(""),
});

export function parseQuery<T extends z.ZodType>(schema: T, query: unknown): z.infer<T> {
  const parsed = schema.safeParse(query ?? {});
  if (parsed.success) return parsed.data;
  const issue = parsed.error.issues[0];
  const param = issue?.path.join(".") ?? null;
  throw new AppError("invalid_request", `Invalid query parameter${param ? ` '${param}'` : ""}: ${issue?.message ?? "not valid"}.`, { param });
}

export function asDialect(value: string | undefined, dialects: readonly Dialect[]): Dialect | undefined {
  if (value === undefined) return undefined;
  if (!dialects.includes(value as Dialect)) throw new AppError("invalid_request", `Invalid query parameter 'dialect': use one of ${dialects.join(", ")}.`, { param: "dialect" });
  return value as Dialect;
}
