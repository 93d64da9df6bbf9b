/**
 * Wire schemas for what clients send to the OpenAI surface: strict (an unknown field is a 400 naming it,
 * so a typo is not silently ignored), with messages that say what is expected.
 */
import { z } from "zod";
import { parseDuration, windowProblem } from "../../core/durations.ts";
import { AppError } from "../../core/errors.ts";

export const FILE_PURPOSES = ["assistants", "batch", "fine-tune", "vision", "user_data", "evals"] as const;

export const MIN_EXPIRES_SECONDS = 3600;
export const MAX_EXPIRES_SECONDS = 2_592_000;

/**
 * Completion windows: OpenAI defines only "24h". spool accepts any duration up to 30 days as an extension
 * (`1h`, `90m`, `7d`, `1h30m`; src/core/durations.ts) — local engines can take longer than a day for big
 * files, an urgent batch wants its deadline said, and short windows make expiry testable — and echoes the
 * window back as given. The window is the Batch's deadline for the scheduler (earliest deadline first).
 */
export function completionWindowMs(window: string): number {
  return parseDuration(window) ?? 24 * 3600 * 1000;
}

const expiresAfterSchema = z.strictObject({
  anchor: z.literal("created_at", { error: "'anchor' must be \"created_at\"." }),
  seconds: z
    .number({ error: "'seconds' must be a number of seconds." })
    .int({ error: "'seconds' must be a whole number." })
    .min(MIN_EXPIRES_SECONDS, { error: `'seconds' must be at least ${MIN_EXPIRES_SECONDS} (1 hour).` })
    .max(MAX_EXPIRES_SECONDS, { error: `'seconds' must be at most ${MAX_EXPIRES_SECONDS} (30 days).` }),
});

const metadataSchema = z
  .record(z.string(), z.string({ error: "metadata values must be strings." }))
  .superRefine((metadata, ctx) => {
    const keys = Object.keys(metadata);
    if (keys.length > 16) ctx.addIssue({ code: "custom", message: `'metadata' may hold at most 16 pairs; it has ${keys.length}.` });
    for (const key of keys) {
      if (key.length > 64) ctx.addIssue({ code: "custom", path: [key], message: `metadata keys may be at most 64 characters; '${key.slice(0, 20)}…' has ${key.length}.` });
      const value = metadata[key] ?? "";
      if (value.length > 512) ctx.addIssue({ code: "custom", path: [key], message: `metadata values may be at most 512 characters; the value of '${key}' has ${value.length}.` });
    }
  });

export const createBatchSchema = z.strictObject({
  input_file_id: z.string({ error: "'input_file_id' is required: the id of a file uploaded with purpose \"batch\"." }).min(1, { error: "'input_file_id' must not be empty." }),
  endpoint: z.string({ error: "'endpoint' is required, e.g. \"/v1/chat/completions\"." }),
  completion_window: z.string({ error: "'completion_window' is required: \"24h\"." }).superRefine((value, ctx) => {
    const problem = windowProblem(value);
    if (problem) ctx.addIssue({ code: "custom", message: `'completion_window' ${problem} (OpenAI accepts "24h"; spool also any duration up to 30 days).` });
  }),
  metadata: metadataSchema.nullish(),
  output_expires_after: expiresAfterSchema.nullish(),
  /**
   * spool extension: the Batch's priority (an integer, higher runs first without starving lower ones; 0 by
   * default). Clients that cannot send extra fields put it in `metadata.priority` instead.
   */
  priority: z
    .number({ error: "'priority' must be an integer (higher runs first; default 0)." })
    .int({ error: "'priority' must be a whole number (higher runs first; default 0)." })
    .min(-1_000_000, { error: "'priority' must be between -1000000 and 1000000." })
    .max(1_000_000, { error: "'priority' must be between -1000000 and 1000000." })
    .nullish(),
});

/**
 * The priority of a new Batch: the `priority` field, else `metadata.priority` (a string, since metadata
 * values are strings), else 0. Throws naming `metadata.priority` when that is not an integer.
 */
export function batchPriority(body: CreateBatchBody): number {
  if (body.priority !== undefined && body.priority !== null) return body.priority;
  const text = body.metadata?.priority;
  if (text === undefined) return 0;
  if (!/^[+-]?\d{1,7}$/.test(text.trim()) || Math.abs(Number(text)) > 1_000_000) {
    throw new AppError("invalid_request", `'metadata.priority' must be an integer between -1000000 and 1000000 written as a string, like "5"; found ${JSON.stringify(text)}.`, { param: "metadata.priority" });
  }
  return Number(text);
}

export type CreateBatchBody = z.infer<typeof createBatchSchema>;

/** Query strings arrive as text; numbers are coerced, anything else named in the error. */
const limit = (max: number, fallback: number) =>
  z.coerce
    .number({ error: "'limit' must be a number." })
    .int({ error: "'limit' must be a whole number." })
    .min(1, { error: `'limit' must be between 1 and ${max}.` })
    .max(max, { error: `'limit' must be between 1 and ${max}.` })
    .default(fallback);

export const listFilesQuerySchema = z.looseObject({
  purpose: z.string().min(1).optional(),
  limit: limit(10_000, 10_000),
  order: z.enum(["asc", "desc"], { error: "'order' must be \"asc\" or \"desc\"." }).default("desc"),
  after: z.string().min(1).optional(),
});

/** spool's retry extension: `all: true` retries every failed request, not only those another try can fix. */
export const retryFailedBodySchema = z.looseObject({ all: z.boolean({ error: "'all' must be true or false." }).optional() }).optional();

/** spool's results extension: `after` is the client's id (custom_id / key) of the last line received. */
export const resultsQuerySchema = z.looseObject({
  limit: limit(10_000, 10_000),
  after: z.string().min(1).optional(),
});

export const listBatchesQuerySchema = z.looseObject({
  limit: limit(100, 20),
  after: z.string().min(1).optional(),
});

/**
 * Parses `value` or throws AppError("invalid_request") naming the first bad field as OpenAI does
 * (`param`: "metadata.job", "output_expires_after.seconds").
 */
export function parseWire<T>(schema: z.ZodType<T>, value: unknown, what: string): T {
  const parsed = schema.safeParse(value ?? {}, { reportInput: true });
  if (parsed.success) return parsed.data;
  const issue = parsed.error.issues[0];
  if (!issue) throw new AppError("invalid_request", `The ${what} is invalid.`);
  if (issue.code === "unrecognized_keys") {
    const key = issue.keys[0] ?? "";
    const param = joinPath([...issue.path, key]);
    throw new AppError("invalid_request", `Unrecognized request argument supplied: ${param}.`, { param, reason: "unknown_parameter" });
  }
  const param = joinPath(issue.path);
  if (issue.code === "invalid_type" && issue.path.length === 0) {
    throw new AppError("invalid_request", `The ${what} must be a JSON object.`, { reason: "invalid_type" });
  }
  // OpenAI's codes: a wrong JSON type is invalid_type ("Invalid type for 'metadata.tags': expected a
  // string, but got an array instead."), a missing field missing_required_parameter, a bad value invalid_value.
  if (issue.code === "invalid_type") {
    const found = (issue as { input?: unknown }).input;
    if (found === undefined) throw new AppError("invalid_request", issue.message.startsWith("'") ? issue.message : `Missing required parameter: '${param}'.`, { param, reason: "missing_required_parameter" });
    throw new AppError("invalid_request", `Invalid type for '${param}': expected ${article(issue.expected)}, but got ${typeName(found)} instead.`, { param, reason: "invalid_type" });
  }
  const message = issue.message.startsWith("Invalid") || issue.message.startsWith("Expected") ? `Invalid '${param}': ${issue.message}.` : issue.message;
  throw new AppError("invalid_request", message, { param: param || null, reason: "invalid_value" });
}

function article(type: string): string {
  return /^[aeiou]/.test(type) ? `an ${type}` : `a ${type}`;
}

function typeName(value: unknown): string {
  if (value === null) return "null";
  if (Array.isArray(value)) return "an array";
  return article(typeof value);
}

function joinPath(path: readonly PropertyKey[]): string {
  let out = "";
  for (const part of path) {
    if (typeof part === "number") out += `[${part}]`;
    else out += out ? `.${String(part)}` : String(part);
  }
  return out;
}
